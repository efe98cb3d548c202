#!/usr/bin/env python3
"""Writes tests/standins/tidb-tables.json: what pd-server, tikv-server,
tidb-server and pd-ctl accept, read from their source at the pinned tags.

    tests/standins/tidbsrc.py PD_GIT TIKV_GIT PFLAG_GIT COBRA_GIT CLAP_GIT [TIDB_DIR TIDB_COMMIT] \
        > tests/standins/tidb-tables.json

Each *_GIT is a bare mirror (git -C DIR show TAG:path is how files are read):
tikv/pd and tikv/tikv at v8.5.7, spf13/pflag v1.0.5 and spf13/cobra v1.8.0
(the versions tikv/pd@v8.5.7 go.mod pins; pd-server and pd-ctl parse their
command line with them), clap-rs/clap v2.33.0 (the clap tikv/tikv@v8.5.7
Cargo.lock pins for tikv-server). pingcap/tidb is read from a directory of
files at TIDB_COMMIT (a checkout, or files saved from one); without it the
tidb part is left out, or, with GEOWP_KEEP_TIDB=FILE, carried over
unchanged from FILE (an earlier output of this script) when only the
PD, TiKV or pd-ctl part is read again.

Deterministic: the same sources give the same file. Every entry cites the
line it was read from as `repo@tag path:line`. Not run in CI (the mirrors
are not there); the JSON is committed and tests/tests/tidb_tables.rs holds
the rendered objects to it."""
import json, os, re, subprocess, sys

PD_TAG, TIKV_TAG, PFLAG_TAG, COBRA_TAG, CLAP_TAG = 'v8.5.7', 'v8.5.7', 'v1.0.5', 'v1.8.0', 'v2.33.0'


class Repo:
    def __init__(self, name, git, tag):
        self.name, self.git, self.tag = name, git, tag
        self._cache = {}

    def lines(self, path):
        if path not in self._cache:
            out = subprocess.run(['git', '-C', self.git, 'show', f'{self.tag}:{path}'], capture_output=True, text=True, check=True).stdout
            self._cache[path] = out.split('\n')
        return self._cache[path]

    def ls(self, d):
        out = subprocess.run(['git', '-C', self.git, 'ls-tree', '--name-only', f'{self.tag}:{d}'], capture_output=True, text=True, check=True).stdout
        return sorted(d.rstrip('/') + '/' + f for f in out.split())

    def cite(self, path, line):
        return f'{self.name}@{self.tag} {path}:{line}'

    def find(self, path, pattern, start=0):
        """The 1-based line of the first match of `pattern` at or after line `start`."""
        rx = re.compile(pattern)
        for i, l in enumerate(self.lines(path)):
            if i + 1 >= start and rx.search(l):
                return i + 1
        raise SystemExit(f'{self.name}@{self.tag} {path}: no line matches {pattern!r}')


class Dir(Repo):
    """Files of a checkout at a commit (pingcap/tidb)."""

    def __init__(self, name, root, commit):
        super().__init__(name, root, commit)

    def lines(self, path):
        if path not in self._cache:
            with open(os.path.join(self.git, path), encoding='utf-8') as f:
                self._cache[path] = f.read().split('\n')
        return self._cache[path]


# ------------------------------------------------------------ Go sources

def go_code(l):
    l = re.sub(r'`[^`]*`', '``', l)
    l = re.sub(r'"(\\.|[^"\\])*"', '""', l)
    return re.sub(r'//.*', '', l)


def go_imports(repo, path, module):
    """alias -> directory in the repo, for imports of `module`."""
    out, inside = {}, False
    for l in repo.lines(path):
        s = l.strip()
        if s.startswith('import ('):
            inside = True
            continue
        if inside and s == ')':
            break
        m = re.match(r'^(?:import\s+)?(\w+\s+)?"([^"]+)"', s)
        if (inside or s.startswith('import ')) and m:
            p = m.group(2)
            alias = (m.group(1) or '').strip() or p.rsplit('/', 1)[-1]
            if p.startswith(module + '/'):
                out[alias] = p[len(module) + 1:]
    return out


GO_SCALARS = {'string': 'string', 'bool': 'bool', 'float64': 'float', 'float32': 'float'}
for t in ('int', 'int8', 'int16', 'int32', 'int64', 'uint', 'uint8', 'uint16', 'uint32', 'uint64'):
    GO_SCALARS[t] = 'integer'
# named types whose TOML form their Unmarshal methods decide (cited where they are read)
GO_NAMED = {'typeutil.Duration': 'duration', 'typeutil.ByteSize': 'bytesize', 'typeutil.StringSlice': 'string-array'}


def go_struct(repo, pkgdir, name):
    """(path, first line index, last line index) of `type name struct {` in a package."""
    for path in repo.ls(pkgdir):
        if not path.endswith('.go') or path.endswith('_test.go'):
            continue
        lines = repo.lines(path)
        for i, l in enumerate(lines):
            if re.match(r'^type\s+' + re.escape(name) + r'\s+struct\s*\{', l):
                depth, j = 0, i
                while True:
                    c = go_code(lines[j])
                    depth += c.count('{') - c.count('}')
                    if depth == 0:
                        return path, i, j
                    j += 1
    return None


def go_basic(repo, pkgdir, name):
    """`type name string` and the like: the TOML kind of a named scalar."""
    for path in repo.ls(pkgdir):
        if not path.endswith('.go') or path.endswith('_test.go'):
            continue
        for l in repo.lines(path):
            m = re.match(r'^type\s+' + re.escape(name) + r'\s+(\w+)\s*$', l.strip())
            if m and m.group(1) in GO_SCALARS:
                return GO_SCALARS[m.group(1)]
    return None


def go_keys(repo, module, pkgdir, struct, prefix, out, seen=()):
    """Every TOML key of a Go struct as BurntSushi/toml decodes it: the toml
    tag (untagged exported fields by their Go name), `-` skipped, embedded
    structs flattened, nested structs followed into other packages."""
    found = go_struct(repo, pkgdir, struct)
    if not found:
        raise SystemExit(f'no struct {struct} in {pkgdir}')
    path, first, last = found
    lines = repo.lines(path)
    imports = go_imports(repo, path, module)
    for i in range(first + 1, last):
        l = lines[i]
        code = go_code(l).strip()
        if not code:
            continue
        tag = re.search(r'`[^`]*toml:"([^"]*)"[^`]*`', l)
        m = re.match(r'^(\w+)\s+([^`]+?)\s*(`.*)?$', l.strip())
        emb = re.match(r'^(\*?[\w.]+)\s*(`.*)?$', l.strip())
        if m and not emb:
            field, gotype = m.group(1), m.group(2).strip()
        elif emb:
            field, gotype = None, emb.group(1)
        else:
            continue
        key = tag.group(1).split(',')[0] if tag else None
        if key == '-':
            continue
        if field is None and not key:
            # embedded: its fields belong to this table
            ref = resolve(repo, module, pkgdir, imports, gotype)
            if ref:
                go_keys(repo, module, ref[0], ref[1], prefix, out, seen)
            continue
        if field is not None and not field[0].isupper():
            continue
        if key is None:
            key = field
        full = prefix + key
        entry = {'path': full, 'cite': repo.cite(path, i + 1)}
        if not tag:
            entry['untagged'] = True
        kind = go_kind(repo, module, pkgdir, imports, gotype)
        if kind == 'table':
            ref = resolve(repo, module, pkgdir, imports, gotype)
            entry['type'] = 'table'
            out.append(entry)
            if (ref[0], ref[1]) not in seen:
                go_keys(repo, module, ref[0], ref[1], full + '.', out, seen + ((ref[0], ref[1]),))
            continue
        entry['type'] = kind
        if kind == 'any':
            entry['go_type'] = gotype
        out.append(entry)


def resolve(repo, module, pkgdir, imports, gotype):
    t = gotype.lstrip('*')
    if '.' in t:
        alias, name = t.split('.', 1)
        if alias not in imports:
            return None
        d = imports[alias]
    else:
        d, name = pkgdir, t
    return (d, name) if go_struct(repo, d, name) else None


def go_kind(repo, module, pkgdir, imports, gotype):
    t = gotype.lstrip('*')
    if t in GO_SCALARS:
        return GO_SCALARS[t]
    if t in GO_NAMED:
        return GO_NAMED[t]
    if t == '[]string':
        return 'string-array'
    if t.startswith('[]'):
        return 'array'
    if t == 'map[string]string':
        return 'string-map'
    if t.startswith('map['):
        return 'map'
    if resolve(repo, module, pkgdir, imports, t):
        return 'table'
    if '.' not in t:
        b = go_basic(repo, pkgdir, t)
        if b:
            return b
    elif t.split('.', 1)[0] in imports:
        b = go_basic(repo, imports[t.split('.', 1)[0]], t.split('.', 1)[1])
        if b:
            return b
    return 'any'


# ------------------------------------------------------------ PD

def pd_tables(pd, pflag, cobra):
    main = 'cmd/pd-server/main.go'
    first = pd.find(main, r'^func addFlags\(')
    flags = []
    for i in range(first, len(pd.lines(main))):
        l = pd.lines(main)[i]
        if l.startswith('}'):
            break
        m = re.search(r'cmd\.Flags\(\)\.(\w+?)P?\("([\w-]+)",\s*"(\w*)"', l)
        if m:
            kind = {'String': 'string', 'Bool': 'bool', 'Int': 'int', 'Uint': 'uint', 'Duration': 'duration'}.get(m.group(1), m.group(1).lower())
            flags.append({'name': m.group(2), 'shorthand': m.group(3), 'kind': kind, 'cite': pd.cite(main, i + 1)})
    fl = 'flag.go'
    keys = []
    go_keys(pd, 'github.com/tikv/pd', 'server/config', 'Config', '', keys)
    cu = 'pkg/utils/configutil/configutil.go'
    srv = 'server/server.go'
    po = 'server/config/persist_options.go'
    cfg = 'server/config/config.go'
    return {
        'pd_server': {
            'parser': 'cobra/pflag: --name=value, --name value (non-bool), -X for a shorthand; a single-dash long name is read as shorthands',
            'parser_cite': pd.cite(main, pd.find(main, r'rootCmd := &cobra\.Command')),
            'flags': flags,
            'unknown_flag': {
                'message': 'unknown flag: --{name}',
                'cite': pflag.cite(fl, pflag.find(fl, r'unknown flag: --%s')),
            },
            'unknown_shorthand': {
                'message': "unknown shorthand flag: '{char}' in -{shorthands}",
                'cite': pflag.cite(fl, pflag.find(fl, r'unknown shorthand flag: %q in -%s')),
            },
            'needs_argument': {
                'message': 'flag needs an argument: {arg}',
                'cite': pflag.cite(fl, pflag.find(fl, r'flag needs an argument: %s')),
            },
            'error_prefix': {'message': 'Error:', 'cite': cobra.cite('command.go', cobra.find('command.go', r'return "Error:"'))},
            'on_error': {
                'what': 'cobra prints "Error: <err>" and the usage, then main prints the error again and exits 1',
                'exit_code': 1,
                'cite': pd.cite(main, pd.find(main, r'exit\(1\)')),
            },
        },
        'pd_config': {
            'decoder': 'BurntSushi/toml v0.3.1 (tikv/pd@v8.5.7 go.mod): a key matches a toml tag, else a field name case-insensitively',
            'keys': keys,
            'unknown_key': {
                'severity': 'warning',
                'message': 'Config contains undefined item: {keys}',
                'cite': pd.cite(cu, pd.find(cu, r'Config contains undefined item')),
                'handling': {'what': 'kept as a warning (logged at start, printed by --config-check); PD starts anyway', 'cite': pd.cite(cfg, pd.find(cfg, r'c\.WarningMsgs = append\(c\.WarningMsgs, err\.Error\(\)\)'))},
            },
            'rules': [
                {'rule': 'lease: default 5 s, applied only when the file leaves it unset (0); no floor is enforced for a set value', 'cite': pd.cite(cfg, pd.find(cfg, r'defaultLeaderLease\s+= int64\(5\)')),
                 'also': pd.cite(cfg, pd.find(cfg, r'AdjustInt64\(&c\.LeaderLease, defaultLeaderLease\)'))},
                {'rule': '[replication] and [schedule] from the file count only until the cluster has a persisted config: a new leader reloads the persisted copy, which wins', 'cite': pd.cite(srv, pd.find(srv, r'if err := s\.reloadConfigFromKV\(\); err != nil')),
                 'also': pd.cite(po, pd.find(po, r'o\.replication\.Store\(&cfg\.Replication\)'))},
            ],
        },
    }


# ------------------------------------------------------------ TiKV

RUST_SCALARS = {'String': 'string', 'bool': 'bool', 'f64': 'float', 'f32': 'float', 'ReadableDuration': 'duration', 'ReadableSize': 'bytesize'}
for t in ('u8', 'u16', 'u32', 'u64', 'usize', 'i8', 'i16', 'i32', 'i64', 'isize'):
    RUST_SCALARS[t] = 'integer'
# the sections geowp writes, followed to their structs (tikv/tikv@v8.5.7 src/config/mod.rs `use` lines)
TIKV_SECTIONS = {'ServerConfig': ('src/server/config.rs', 'Config'), 'RaftstoreConfig': ('components/raftstore/src/store/config.rs', 'Config'),
                 'SecurityConfig': ('components/security/src/lib.rs', 'SecurityConfig')}


def rust_struct(repo, path, name):
    lines = repo.lines(path)
    for i, l in enumerate(lines):
        if re.match(r'^pub struct ' + re.escape(name) + r'\s*\{', l):
            j = i
            while not lines[j].startswith('}'):
                j += 1
            k = i
            while k > 0 and lines[k - 1].startswith('#['):
                k -= 1
            return i, j, '\n'.join(lines[k:i])
    return None


def kebab(s):
    return s.replace('_', '-')


def rust_kind(gotype):
    t = gotype.strip()
    m = re.match(r'^Option<(.*)>$', t)
    if m:
        t = m.group(1).strip()
    if t in RUST_SCALARS:
        return RUST_SCALARS[t]
    if re.match(r'^Vec<String>$', t) or re.match(r'^HashSet<String>$', t):
        return 'string-array'
    if re.match(r'^HashMap<String,\s*String>$', t):
        return 'string-map'
    return None


def rust_keys(repo, path, struct, prefix, out, follow):
    found = rust_struct(repo, path, struct)
    if not found:
        raise SystemExit(f'no struct {struct} in {path}')
    first, last, attrs = found
    kebab_all = 'rename_all = "kebab-case"' in attrs
    lines = repo.lines(path)
    pending = []
    for i in range(first + 1, last):
        s = lines[i].strip()
        if s.startswith('#['):
            pending.append(s)
            continue
        m = re.match(r'^pub (\w+):\s*(.+?),?$', s)
        if not m:
            if s and not s.startswith('//'):
                pending = []
            continue
        field, ty = m.group(1), m.group(2).rstrip(',')
        a = ' '.join(pending)
        pending = []
        if re.search(r'serde\([^)]*\bskip\b(?!_serializing)', a) or 'skip_deserializing' in a:
            continue
        rn = re.search(r'serde\([^)]*rename\s*=\s*"([^"]+)"', a)
        key = rn.group(1) if rn else (kebab(field) if kebab_all else field)
        entry = {'path': prefix + key, 'cite': repo.cite(path, i + 1)}
        aliases = re.findall(r'alias\s*=\s*"([^"]+)"', a)
        if aliases:
            entry['aliases'] = sorted(aliases)
        kind = rust_kind(ty)
        if kind:
            entry['type'] = kind
        elif ty in follow:
            entry['type'] = 'table'
            out.append(entry)
            p, s2 = follow[ty]
            rust_keys(repo, p, s2, prefix + key + '.', out, {})
            continue
        elif rust_struct(repo, path, ty):
            entry['type'] = 'table'
            out.append(entry)
            rust_keys(repo, path, ty, prefix + key + '.', out, {})
            continue
        elif re.search(r'^pub enum ' + re.escape(ty) + r'\b', '\n'.join(lines), re.M):
            entry['type'] = 'string'
            entry['enum'] = ty
        else:
            entry['type'] = 'table' if prefix == '' else 'any'
            entry['followed'] = False
            entry['rust_type'] = ty
        out.append(entry)


def tikv_tables(tikv, clap):
    main = 'cmd/tikv-server/src/main.rs'
    lines = tikv.lines(main)
    flags, cur = [], None
    for i, l in enumerate(lines):
        m = re.search(r'Arg::with_name\("([\w-]+)"\)', l)
        if m:
            cur = {'name': m.group(1), 'long': None, 'short': None, 'aliases': [], 'takes_value': False, 'cite': tikv.cite(main, i + 1)}
            flags.append(cur)
            continue
        if cur is None:
            continue
        for k, rx in (('long', r'\.long\("([\w-]+)"\)'), ('short', r'\.short\("(\w)"\)')):
            mm = re.search(rx, l)
            if mm:
                cur[k] = mm.group(1)
        mm = re.search(r'\.alias\("([\w-]+)"\)', l)
        if mm:
            cur['aliases'].append(mm.group(1))
        mm = re.search(r'\.aliases\(&\[([^\]]*)\]\)', l)
        if mm:
            cur['aliases'] += re.findall(r'"([\w-]+)"', mm.group(1))
        # clap 2: takes_value(true), and value_name() sets TakesValue too
        if '.takes_value(true)' in l or '.value_name(' in l:
            cur['takes_value'] = True
        if '.get_matches()' in l:
            cur = None
    keys = []
    rust_keys(tikv, 'src/config/mod.rs', 'TikvConfig', '', keys, TIKV_SECTIONS)
    err = 'src/errors.rs'
    setup = 'components/server/src/setup.rs'
    common = 'components/server/src/common.rs'
    tucfg = 'components/tikv_util/src/config.rs'
    cfg = 'src/config/mod.rs'
    mof = [tikv.find(cfg, r'max_open_files: 40960'), tikv.find(cfg, r'max_open_files: 40960', tikv.find(cfg, r'max_open_files: 40960') + 1)]
    return {
        'tikv_server': {
            'parser': 'clap 2.33.0: --long=value or --long value, -s value; a delimited (comma) value for --pd-endpoints/--labels',
            'flags': flags,
            'unknown_flag': {
                'message': "error: Found argument '{arg}' which wasn't expected, or isn't valid in this context",
                'exit_code': 1,
                'cite': clap.cite(err, clap.find(err, r"Found argument '\{\}' which wasn't expected")),
                'exit_cite': clap.cite(err, clap.find(err, r'process::exit\(1\)')),
            },
        },
        'tikv_config': {
            'decoder': 'serde with #[serde(default)] and kebab-case names; sections geowp does not write are listed, not followed',
            'keys': keys,
            'unknown_key': {
                'severity': 'ignored (fatal only under --config-check)',
                'message': 'unknown configuration options: {keys}',
                'cite': tikv.cite(setup, tikv.find(setup, r'"unknown configuration options: \{\}"')),
                'handling': {'what': 'unknown keys are collected only with --config-check; a normal start ignores them silently',
                             'cite': tikv.cite(main, tikv.find(main, r'if is_config_check \{$'))},
            },
            'rules': [
                {'rule': 'open files: fatal unless RLIMIT_NOFILE can reach 1000 + rocksdb.max-open-files + raftdb.max-open-files = 1000 + 40960 + 40960 = 82920 (raising the hard limit needs privilege)',
                 'cite': tikv.cite(common, tikv.find(common, r'check_max_open_fds\(')),
                 'also': [tikv.cite(common, tikv.find(common, r'const RESERVED_OPEN_FDS: u64 = 1000')), tikv.cite(cfg, mof[0]), tikv.cite(cfg, mof[1]),
                          tikv.cite(tucfg, tikv.find(tucfg, r'the maximum number of open file descriptors is too'))],
                 'message': 'the maximum number of open file descriptors is too small, got {got}, expect greater or equal to 82920'},
            ],
        },
    }


# ------------------------------------------------------------ pd-ctl

D = 'tools/pd-ctl/pdctl/command/'
# the commands geowp runs (provider/src/resources/cluster_stack/lifecycle.rs and
# provider/src/render/tidb.rs): words, the file and Use line of the last word,
# its arguments, and the lines it prints on success and failure.
PD_CTL = [
    (['member', 'leader', 'show'], 'member_command.go', r'Use:\s+"show"', [], 'json', [(r'cmd\.Println\(r\)', 'the leader member as JSON', 'getLeaderMemberCommandFunc')],
     [(r'Failed to get the leader of pd members: %s', 'Failed to get the leader of pd members: {err}')]),
    (['member', 'leader', 'transfer'], 'member_command.go', r'Use:\s+"transfer <member_name>"', ['member_name'], 'Success!', [(r'cmd\.Println\("Success!"\)', 'Success!', 'transferPDLeaderCommandFunc')],
     [(r'Failed to transfer leadership: %s', 'Failed to transfer leadership: {err}')]),
    (['member', 'delete', 'name'], 'member_command.go', r'Use:\s+"name <member_name>"', ['member_name'], 'Success!', [(r'cmd\.Println\("Success!"\)', 'Success!', 'deleteMemberByNameCommandFunc')],
     [(r'Failed to delete member %s: %s', 'Failed to delete member {member_name}: {err}')]),
    (['member', 'leader_priority'], 'member_command.go', r'Use:\s+"leader_priority <member_name> <priority>"', ['member_name', 'priority'], 'Success!',
     [(r'cmd\.Println\("Success!"\)', 'Success!', 'setLeaderPriorityFunc')],
     [(r'failed to set leader priority: %v', 'failed to set leader priority: {err}'), (r'failed to parse priority: %v', 'failed to parse priority: {err}')]),
    (['store'], 'store_command.go', r'Use:\s+`store \[command\] \[flags\]`', [], 'json', [(r'cmd\.Println\(r\)', 'the stores as JSON', 'showStoreCommandFunc')],
     [(r'Failed to get store: %s', 'Failed to get store: {err}')]),
    (['store', 'delete', 'addr'], 'store_command.go', r'Use:\s+"addr <address>"', ['address'], 'Success!', [(r'cmd\.Println\("Success!"\)', 'Success!', 'deleteStoreCommandByAddrFunc')],
     [(r'Failed to delete store %s: %s', 'Failed to delete store {address}: {err}')]),
    (['scheduler', 'add', 'evict-leader-scheduler'], 'scheduler.go', r'Use:\s+"evict-leader-scheduler <store_id>"', ['store_id'], 'Success! {message}',
     [(r'Success! %s', 'Success! The scheduler is created.', 'requestJSON'), (r'Success! %s', 'Success! The scheduler has been applied to the store.', 'requestJSON')],
     [(r'Failed! %s', 'Failed! [{status}] {body}')]),
    (['scheduler', 'remove'], 'scheduler.go', r'Use:\s+"remove <scheduler>"', ['scheduler'], 'Success!', [(r'cmd\.Println\("Success!"\)', 'Success!', 'removeSchedulerCommandFunc')],
     [(r'cmd\.Println\(err\)', '{err}')]),
    (['member'], 'member_command.go', r'Use:\s+"member \[leader\|delete\|leader_priority\]"', [], 'json', [(r'cmd\.Println\(r\)', 'the members as JSON', 'showMemberCommandFunc')],
     [(r'Failed to get pd members: %s', 'Failed to get pd members: {err}')]),
    (['health'], 'health_command.go', r'Use:\s+"health"', [], 'json', [(r'jsonPrint\(cmd, health\)', 'the members\' health as JSON', 'showHealthCommandFunc')],
     [(r'cmd\.Println\(err\)', '{err}')]),
    (['scheduler', 'config', 'evict-leader-scheduler'], 'scheduler.go', r'Use:\s+"evict-leader-scheduler",', [], 'json',
     [(r'cmd\.Println\(r\)', 'the scheduler configuration as JSON (store-id-ranges, batch)', 'listSchedulerConfigCommandFunc')],
     [(r'errors\.New\("\[404\] scheduler not found"\)', '[404] scheduler not found')]),
    (['config', 'set'], 'config_command.go', r'Use:\s+"set <option> <value>', ['option', 'value'], 'Success!', [(r'cmd\.Println\("Success!"\)', 'Success!', 'setConfigCommandFunc')],
     [(r'Failed to set config: %s', 'Failed to set config: {err}')]),
]
# where the server's messages after "Success! " come from
PD_SCHED_MSG = {'Success! The scheduler is created.': r'"The scheduler is created\."\)', 'Success! The scheduler has been applied to the store.': r'"The scheduler has been applied to the store\."\)'}


def pd_ctl_tables(pd, cobra):
    out = []
    for words, f, use, args, kind, succ, fail in PD_CTL:
        path = D + f
        if words[0] == 'scheduler' and kind.startswith('Success! {'):
            glob = D + 'global.go'
        else:
            glob = path
        entry = {'words': words, 'args': args, 'cite': pd.cite(path, pd.find(path, use)), 'success': [], 'failure': []}
        for rx, line, func in succ:
            if func == 'requestJSON':
                e = {'line': line, 'cite': pd.cite(glob, pd.find(glob, rx, pd.find(glob, r'^func requestJSON\(')))}
                api = 'server/api/scheduler.go'
                e['server_cite'] = pd.cite(api, pd.find(api, PD_SCHED_MSG[line]))
            else:
                e = {'line': line, 'cite': pd.cite(path, pd.find(path, rx, pd.find(path, r'^func ' + func + r'\(')))}
            entry['success'].append(e)
        for rx, line in fail:
            start = pd.find(glob, r'^func requestJSON\(') if glob != path else pd.find(path, r'^func ' + succ[0][2] + r'\(')
            entry['failure'].append({'line': line, 'cite': pd.cite(glob, pd.find(glob, rx, start))})
        out.append(entry)
    ctl = 'tools/pd-ctl/pdctl/ctl.go'
    gflags = []
    for i, l in enumerate(pd.lines(ctl)):
        m = re.search(r'rootCmd\.PersistentFlags\(\)\.(String)P?\("([\w-]+)"(?:,\s*"(\w)")?', l)
        if m:
            gflags.append({'name': m.group(2), 'shorthand': m.group(3) or '', 'kind': 'string', 'cite': pd.cite(ctl, i + 1)})
    args = 'args.go'
    return {'pd_ctl': {
        'global_flags': gflags,
        'commands': out,
        'unknown_command': {
            'message': 'unknown command "{word}" for "{path}"',
            'what': 'at the top level cobra refuses it and pd-ctl exits 1; below it cobra runs the parent (or prints its help) with the word as an argument',
            'cite': cobra.cite(args, cobra.find(args, r'unknown command %q for %q')),
            'exit_cite': pd.cite(ctl, pd.find(ctl, r'os\.Exit\(1\)')),
        },
        'exit_status': {'what': 'pd-ctl prints failures and still exits 0: success is read from the printed line', 'cite': pd.cite(D + 'global.go', pd.find(D + 'global.go', r'cmd\.Printf\("Failed! %s'))},
    }}


# ------------------------------------------------------------ TiDB

def tidb_tables(tidb):
    main = 'cmd/tidb-server/main.go'
    lines = tidb.lines(main)
    names = {}
    for i, l in enumerate(lines):
        m = re.match(r'^\s*(nm\w+)\s*=\s*"([\w-]+)"', l)
        if m:
            names[m.group(1)] = m.group(2)
    flags = []
    first = tidb.find(main, r'^func initFlagSet\(')
    for i in range(first, len(lines)):
        l = lines[i]
        if l.startswith('}'):
            break
        m = re.search(r'(?:fset\.(String|Int|Uint|Bool|Duration)|flagBoolean)\((?:fset,\s*)?(nm\w+|"[\w-]+")', l)
        if m:
            n = m.group(2)
            name = n.strip('"') if n.startswith('"') else names[n]
            kind = (m.group(1) or 'Bool').lower()
            flags.append({'name': name, 'kind': kind, 'cite': tidb.cite(main, i + 1)})
    tables = {}
    if os.path.exists(os.path.join(tidb.git, 'pkg/config/config.go')):
        keys = []
        go_keys(tidb, 'github.com/pingcap/tidb', 'pkg/config', 'Config', '', keys)
        tables['tidb_config'] = {'keys': keys}
    tables['tidb_server'] = {
        'parser': "Go's flag package: -name or --name, -name=value, -name value for non-bools (a bool takes only -name=value)",
        'flags': flags,
        'flag_set': {'what': 'flag.NewFlagSet(os.Args[0], flag.ExitOnError): an unknown flag prints the message and the usage, exit 2',
                     'cite': tidb.cite(main, tidb.find(main, r'flag\.NewFlagSet\(os\.Args\[0\], flag\.ExitOnError\)'))},
        # Go's own flag package: FlagSet.failf's message for an unknown name,
        # and ExitOnError's os.Exit(2); no Go source is mirrored here, so the
        # line is not cited (the text is the package's, unchanged since Go 1.0)
        'unknown_flag': {'message': 'flag provided but not defined: -{name}', 'exit_code': 2,
                         'source': 'golang/go src/flag/flag.go, FlagSet.parseOne and FlagSet.Parse (ExitOnError exits 2)'},
    }
    return tables


def main():
    pd = Repo('tikv/pd', sys.argv[1], PD_TAG)
    tikv = Repo('tikv/tikv', sys.argv[2], TIKV_TAG)
    pflag = Repo('spf13/pflag', sys.argv[3], PFLAG_TAG)
    cobra = Repo('spf13/cobra', sys.argv[4], COBRA_TAG)
    clap = Repo('clap-rs/clap', sys.argv[5], CLAP_TAG)
    out = {'generated_by': 'tests/standins/tidbsrc.py', 'sources': {
        'tikv/pd': PD_TAG, 'tikv/tikv': TIKV_TAG, 'spf13/pflag': PFLAG_TAG, 'spf13/cobra': COBRA_TAG, 'clap-rs/clap': CLAP_TAG}}
    out.update(pd_tables(pd, pflag, cobra))
    out.update(tikv_tables(tikv, clap))
    out.update(pd_ctl_tables(pd, cobra))
    if len(sys.argv) > 7:
        tidb = Dir('pingcap/tidb', sys.argv[6], sys.argv[7])
        out['sources']['pingcap/tidb'] = sys.argv[7] + ' (a master commit the index holds, not the v8.5.7 tag)'
        out.update(tidb_tables(tidb))
    elif os.environ.get('GEOWP_KEEP_TIDB'):
        with open(os.environ['GEOWP_KEEP_TIDB'], encoding='utf-8') as f:
            old = json.load(f)
        for k in ('tidb_server', 'tidb_config'):
            if k in old:
                out[k] = old[k]
        if 'pingcap/tidb' in old.get('sources', {}):
            out['sources']['pingcap/tidb'] = old['sources']['pingcap/tidb']
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write('\n')


main()
