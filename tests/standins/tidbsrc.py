#!/usr/bin/env python3
"""Writes tests/standins/tidb-tables.json: what pd-server, tikv-server,
tidb-server and pd-ctl accept, read from their source at the pinned tags.

    tests/standins/tidbsrc.py PD_GIT TIKV_GIT PFLAG_GIT COBRA_GIT CLAP_GIT [TIDB_DIR TIDB_COMMIT] \
        > tests/standins/tidb-tables.json
    tests/standins/tidbsrc.py --tidb-git TIDB_GIT TAG \
        < tests/standins/tidb-tables.json > tests/standins/tidb-tables.json.new
    tests/standins/tidbsrc.py --tidb-files FILES_DIR \
        < tests/standins/tidb-tables.json > tests/standins/tidb-tables.json.new

Each *_GIT is a bare mirror (git -C DIR show TAG:path is how files are read):
tikv/pd and tikv/tikv at v8.5.7, spf13/pflag v1.0.5 and spf13/cobra v1.8.0
(the versions tikv/pd@v8.5.7 go.mod pins; pd-server and pd-ctl parse their
command line with them), clap-rs/clap v2.33.0 (the clap tikv/tikv@v8.5.7
Cargo.lock pins for tikv-server). pingcap/tidb is read from a directory of
files at TIDB_COMMIT (a checkout, or files saved from one); without it the
tidb part is left out, or, with GEOWP_KEEP_TIDB=FILE, carried over
unchanged from FILE (an earlier output of this script) when only the
PD, TiKV or pd-ctl part is read again.

--tidb-git reads every tidb-server part (argv, config keys, system
variables) again from a bare mirror of pingcap/tidb (or a fork holding its
tags) at TAG, and carries the PD, TiKV and pd-ctl parts over from the
earlier output on stdin. It is how the committed tables were made: at
v8.5.3, the newest v8.5 tag a source reachable here holds.

--tidb-files (how earlier tables were made) carries the PD, TiKV, pd-ctl and tidb-server argv
parts (and their sources) are carried over unchanged from the earlier
output on stdin, and the tidb-server config keys (tidb_config) and system
variables (tidb_sysvars) are read again from FILES_DIR, laid out as
FILES_DIR/<commit>/<path>: pingcap/tidb is too large for a mirror here, so
its files were saved one by one from a search index that keeps each file at
the commits that changed it, and each file is cited at its own commit
(TIDB_FILES below; none of them is the v8.5.7 tag, which the index does not
hold; sources["pingcap/tidb"] says which commit each file was read at).

Deterministic: the same sources give the same file. Every entry cites the
line it was read from as `repo@tag path:line` (or `repo@commit path:line`).
Not run in CI (the mirrors are not there); the JSON is committed and
tests/tests/tidb_tables.rs holds the rendered objects to it."""
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

    def has(self, path):
        return subprocess.run(['git', '-C', self.git, 'cat-file', '-e', f'{self.tag}:{path}'], capture_output=True).returncode == 0

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

    def has(self, path):
        return os.path.isfile(os.path.join(self.git, path))

    def lines(self, path):
        if path not in self._cache:
            with open(os.path.join(self.git, path), encoding='utf-8') as f:
                self._cache[path] = f.read().split('\n')
        return self._cache[path]


class Files(Repo):
    """pingcap/tidb files saved one by one, each at the commit the search
    index holds it at: FILES_DIR/<commit>/<path>. Every path must be in one
    commit directory only; each is cited at its own commit."""

    def __init__(self, name, root, paths):
        super().__init__(name, root, None)
        self.commits = {}
        for path in paths:
            found = sorted(c for c in os.listdir(root) if os.path.isfile(os.path.join(root, c, path)))
            if len(found) != 1:
                raise SystemExit(f'{root}: {path} is in {found or "no"} commit directory; need exactly one')
            self.commits[path] = found[0]

    def has(self, path):
        return path in self.commits

    def lines(self, path):
        if path not in self._cache:
            with open(os.path.join(self.git, self.commits[path], path), encoding='utf-8') as f:
                self._cache[path] = f.read().split('\n')
        return self._cache[path]

    def ls(self, d):
        d = d.rstrip('/') + '/'
        return sorted(p for p in self.commits if p.startswith(d) and '/' not in p[len(d):])

    def cite(self, path, line):
        return f'{self.name}@{self.commits[path]} {path}:{line}'


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
# struct types of packages that were not read (pingcap/tidb pkg/config/config.go:
# tikv/client-go's config, pkg/util/logutil): sections listed, not followed
GO_UNREAD_STRUCTS = {'tikvcfg.PDClient': 'github.com/tikv/client-go/v2/config', 'tikvcfg.TiKVClient': 'github.com/tikv/client-go/v2/config',
                     'logutil.FileLogConfig': 'github.com/pingcap/tidb/pkg/util/logutil'}


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
        if kind == 'unread-table':
            entry.update({'type': 'table', 'followed': False, 'go_type': gotype, 'package': GO_UNREAD_STRUCTS[gotype.lstrip('*')]})
            out.append(entry)
            continue
        if kind == 'text':
            at = go_text_unmarshaler(repo, pkgdir, gotype.lstrip('*'))
            entry['unmarshal_text_cite'] = repo.cite(at[0], at[1] + 1)
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


def go_text_unmarshaler(repo, pkgdir, name):
    """(path, line index) of `func (x *name) UnmarshalText(` in the package:
    BurntSushi/toml hands such a type the value's text, so it is a scalar."""
    for path in repo.ls(pkgdir):
        if not path.endswith('.go') or path.endswith('_test.go'):
            continue
        for i, l in enumerate(repo.lines(path)):
            if re.match(r'^func \(\w+ \*?' + re.escape(name) + r'\) UnmarshalText\(', l):
                return path, i
    return None


def go_kind(repo, module, pkgdir, imports, gotype):
    t = gotype.lstrip('*')
    if t in GO_SCALARS:
        return GO_SCALARS[t]
    if t in GO_NAMED:
        return GO_NAMED[t]
    if t in GO_UNREAD_STRUCTS:
        return 'unread-table'
    if '.' not in t and go_text_unmarshaler(repo, pkgdir, t):
        return 'text'
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
# the commands geowp runs (stack/src/pdctl.rs, leave.rs, rolling.rs and
# stack/src/render/tidb.rs): words, the file and Use line of the last word,
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
    if tidb.has('pkg/config/config.go'):
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


# what sources["pingcap/tidb"] says under --tidb-git
TIDB_TAG_NOTE = ('the newest v8.5 tag any source reachable here holds; the image geowp pins is v8.5.7, '
                 'which none holds (pingcap/tidb itself is too large to mirror here). The tag was read in a '
                 "fork's mirror (mengchengtech/tidb) whose tag names the upstream release commit, the commit "
                 'tidb-server v8.5.3 reports as its own. Upstream release-8.5 read the same way at 9a58773a '
                 '(2026-01-13, in bufferflies/tidb\'s mirror) differs from v8.5.3 only by 2 added config keys '
                 '(instance.plugin_audit_log_*), 5 added system variables and one variable given a validation of its own')
# pingcap/tidb files read by --tidb-files, as saved under FILES_DIR/<commit>/
TIDB_FILES = ['pkg/config/config.go', 'pkg/sessionctx/variable/sysvar.go', 'pkg/sessionctx/variable/tidb_vars.go',
              'pkg/sessionctx/variable/variable.go', 'pkg/sessionctx/variable/error.go', 'pkg/errno/errname.go']
# files of which only a prefix was saved (the rest was not read): path -> (characters kept, characters in the file)
TIDB_PARTIAL = {'pkg/errno/errname.go': (32000, 148889)}
# constants the sysvar entries name whose files were not saved: the value and
# where the search index's text shows it (no line: the file was not saved whole)
TIDB_EXCERPT_CONSTANTS = {
    'PlacementModeStrict': ('STRICT', 'pkg/sessionctx/variable/session.go, const block after (*SessionVars).BuildParserConfig: '
                                      'PlacementModeStrict string = "STRICT" (search index excerpt; file not saved, no line)'),
    'PlacementModeIgnore': ('IGNORE', 'pkg/sessionctx/variable/session.go, same const block: '
                                      'PlacementModeIgnore string = "IGNORE" (search index excerpt; file not saved, no line)'),
}
GO_INT_NAMES = {'math.MaxInt8': 2**7 - 1, 'math.MaxInt16': 2**15 - 1, 'math.MaxInt32': 2**31 - 1, 'math.MaxInt64': 2**63 - 1,
                'math.MinInt32': -2**31, 'math.MinInt64': -2**63, 'math.MaxUint8': 2**8 - 1, 'math.MaxUint16': 2**16 - 1,
                'math.MaxUint32': 2**32 - 1, 'math.MaxUint64': 2**64 - 1, 'time.Nanosecond': 1, 'time.Microsecond': 10**3,
                'time.Millisecond': 10**6, 'time.Second': 10**9, 'time.Minute': 60 * 10**9, 'time.Hour': 3600 * 10**9}


def go_consts(repo, path):
    """name -> (string value or int expression, 1-based line) for the
    `Name [type] = literal` lines of the const blocks of a file."""
    out, inside = {}, False
    for i, l in enumerate(repo.lines(path)):
        if re.match(r'^const \($', l):
            inside = True
            continue
        if inside and l.startswith(')'):
            inside = False
            continue
        if not inside:
            continue
        m = re.match(r'^\t(\w+)(?:\s+\w+)?\s*=\s*"((?:\\.|[^"\\])*)"', l)
        if m:
            out[m.group(1)] = (('str', m.group(2)), i + 1)
            continue
        m = re.match(r'^\t(\w+)(?:\s+\w+)?\s*=\s*([-\w. *<>/+()]+?)\s*(//.*)?$', l)
        if m:
            out[m.group(1)] = (('expr', m.group(2).strip()), i + 1)
    return out


def go_int(expr, consts, depth=0):
    """The value of a Go integer constant expression, or None."""
    import ast
    text = expr.strip()
    if depth > 5:
        return None
    for name, v in sorted(GO_INT_NAMES.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(name, str(v))
    text = re.sub(r'\b(?:int|int32|int64|uint|uint32|uint64)\(', '(', text)
    try:
        tree = ast.parse(text, mode='eval')
    except SyntaxError:
        return None

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, int):
            return n.value
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            v = ev(n.operand)
            return None if v is None else -v
        if isinstance(n, ast.BinOp):
            a, b = ev(n.left), ev(n.right)
            if a is None or b is None:
                return None
            ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                   ast.LShift: lambda: a << b, ast.FloorDiv: lambda: a // b, ast.Div: lambda: a // b}
            f = ops.get(type(n.op))
            return f() if f else None
        if isinstance(n, ast.Name) and n.id in consts and consts[n.id][0][0] == 'expr':
            return go_int(consts[n.id][0][1], consts, depth + 1)
        return None
    return ev(tree)


def go_split_top(text):
    """`text` split at the commas outside brackets, strings and comments."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(text):
        c = text[i]
        if c in '"`\'':
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if text[j] == '\\' and c != '`' else 1
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        if text.startswith('//', i):
            j = text.find('\n', i)
            i = len(text) if j < 0 else j
            continue
        if c in '([{':
            depth += 1
        elif c in ')]}':
            depth -= 1
        if c == ',' and depth == 0:
            parts.append(''.join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    if ''.join(cur).strip():
        parts.append(''.join(cur))
    return [p.strip() for p in parts if p.strip()]


def go_slice_entries(repo, path, opener):
    """(text, 1-based line of its `{`) of each element of the composite
    literal that opens at the first line matching `opener`."""
    lines = repo.lines(path)
    start = repo.find(path, opener)
    text = '\n'.join(lines[start - 1:])
    base = start
    i = text.index('{') + 1
    out, depth, begin = [], 0, None
    while i < len(text):
        c = text[i]
        if c in '"`\'':
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if text[j] == '\\' and c != '`' else 1
            i = j + 1
            continue
        if text.startswith('//', i) or text.startswith('/*', i):
            end = text.find('\n' if text[i + 1] == '/' else '*/', i)
            i = end + (1 if text[i + 1] == '/' else 2)
            continue
        if c == '{':
            if depth == 0:
                begin = i
            depth += 1
        elif c == '}':
            if depth == 0:
                break
            depth -= 1
            if depth == 0:
                out.append((text[begin + 1:i], base + text.count('\n', 0, begin)))
        i += 1
    return out


SYSVAR_TYPES = {'TypeStr': 'str', 'TypeBool': 'bool', 'TypeInt': 'int', 'TypeEnum': 'enum', 'TypeFloat': 'float',
                'TypeUnsigned': 'unsigned', 'TypeTime': 'time', 'TypeDuration': 'duration'}


def tidb_sysvar_tables(tidb):
    sv, tv, var, err, errno = ('pkg/sessionctx/variable/sysvar.go', 'pkg/sessionctx/variable/tidb_vars.go',
                               'pkg/sessionctx/variable/variable.go', 'pkg/sessionctx/variable/error.go', 'pkg/errno/errname.go')
    sess = 'pkg/sessionctx/variable/session.go'
    consts, const_cites = {}, {}
    # session.go holds the placement modes' constants; the files saved one by
    # one did not include it (TIDB_EXCERPT_CONSTANTS stands in for it there)
    for path in (tv, sv, var) + ((sess,) if tidb.has(sess) else ()):
        for name, (val, line) in go_consts(tidb, path).items():
            consts[name] = (val, line)
            const_cites[name] = tidb.cite(path, line)

    def string_of(expr):
        """(value, cite) of a string literal or a string constant, else (None, None)."""
        e = expr.strip()
        m = re.fullmatch(r'"((?:\\.|[^"\\])*)"', e)
        if m:
            return m.group(1), None
        if e in consts and consts[e][0][0] == 'str':
            return consts[e][0][1], const_cites[e]
        if e in TIDB_EXCERPT_CONSTANTS:
            return TIDB_EXCERPT_CONSTANTS[e][0], None
        return None, None

    entries, unresolved = [], []
    for text, line in go_slice_entries(tidb, sv, r'^var defaultSysVars = \[\]\*SysVar\{'):
        fields = {}
        for part in go_split_top(text):
            m = re.match(r'^(\w+)\s*:\s*(.*)$', part, re.S)
            if m:
                fields[m.group(1)] = m.group(2).strip()
        name_expr = fields.get('Name', '')
        name, name_cite = string_of(name_expr)
        # the line of `Name:` (the entry's own line when it holds it)
        rel = text[:text.find('Name:')].count('\n') if 'Name:' in text else 0
        entry = {'cite': tidb.cite(sv, line + rel)}
        if name is None:
            unresolved.append({'name_expr': name_expr, 'cite': entry['cite']})
            continue
        entry['name'] = name
        if name_cite:
            entry['name_cite'] = name_cite
        scope = fields.get('Scope', 'ScopeNone')
        entry['scope'] = sorted(s.strip()[len('Scope'):].upper() for s in scope.split('|'))
        entry['type'] = SYSVAR_TYPES.get(fields.get('Type', 'TypeStr'), fields.get('Type'))
        for key, out in (('MinValue', 'min'), ('MaxValue', 'max')):
            if key in fields:
                v = go_int(fields[key], consts)
                if v is None and re.fullmatch(r'-?\d+\.\d+', fields[key]):
                    v = float(fields[key])
                if v is None:
                    entry[out + '_expr'] = fields[key]
                else:
                    entry[out] = v
        if 'PossibleValues' in fields:
            pv = fields['PossibleValues']
            m = re.fullmatch(r'\[\]string\{(.*)\}', pv, re.S)
            vals, bad, cites = [], [], []
            for item in (go_split_top(m.group(1)) if m else [pv]):
                v, c = string_of(item)
                if v is None:
                    bad.append(item)
                else:
                    vals.append(v)
                    if c:
                        cites.append(c)
                    elif item in TIDB_EXCERPT_CONSTANTS:
                        entry.setdefault('possible_values_source', []).append(TIDB_EXCERPT_CONSTANTS[item][1])
            entry['possible_values'] = vals
            if bad:
                entry['possible_values_unresolved'] = bad
            if cites:
                entry['possible_values_cite'] = sorted(set(cites))
        for flag in ('ReadOnly', 'AllowEmpty', 'AllowEmptyAll', 'AllowAutoValue', 'Hidden'):
            if fields.get(flag) == 'true':
                entry[flag[0].lower() + flag[1:]] = True
        if 'Aliases' in fields:
            m = re.fullmatch(r'\[\]string\{(.*)\}', fields['Aliases'], re.S)
            entry['aliases'] = [string_of(a)[0] or a for a in go_split_top(m.group(1))] if m else [fields['Aliases']]
        if 'Validation' in fields:
            entry['custom_validation'] = True
        entries.append(entry)
    entries.sort(key=lambda e: e['name'])
    names = [e['name'] for e in entries]
    if len(names) != len(set(names)):
        raise SystemExit('duplicate sysvar names: ' + ', '.join(sorted({n for n in names if names.count(n) > 1})))

    def fn(path, pattern):
        return tidb.cite(path, tidb.find(path, pattern))

    def errmsg(code):
        line = tidb.find(errno, r'^\t' + code + r':\s+mysql\.Message\(')
        msg = re.search(r'mysql\.Message\("((?:\\.|[^"\\])*)"', tidb.lines(errno)[line - 1]).group(1)
        return msg, tidb.cite(errno, line)

    def refusal(var_name, code, placeholders, what):
        msg, cite = errmsg(code)
        for ph in placeholders:
            msg = re.sub(r'%-?\.?\d*s', '{' + ph + '}', msg, count=1)
        return {'message': msg, 'cite': cite, 'error_var_cite': fn(err, r'^\t' + var_name + r'\s+='), 'what': what}

    return {'tidb_sysvars': {
        'what': 'defaultSysVars of pkg/sessionctx/variable/sysvar.go (noop.go\'s MySQL-compatibility no-ops are not read); '
                'a name matches case-insensitively (RegisterSysVar/GetSysVar lower-case it)',
        'registry_cite': fn(var, r'^func GetSysVar\('),
        'variables': entries,
        'unresolved_names': unresolved,
        'validate': {
            'what': 'SET runs SysVar.Validate: the scope first, then the check of the type, then the variable\'s own Validation func (not modelled here)',
            'cite': fn(var, r'^func \(sv \*SysVar\) Validate\('),
            'scope_cite': fn(var, r'^func \(sv \*SysVar\) validateScope\('),
            'type_cite': fn(var, r'^func \(sv \*SysVar\) ValidateFromType\('),
            'empty_cite': fn(var, r'if value == "" && \(\(sv\.AllowEmpty && scope == ScopeSession\) \|\| sv\.AllowEmptyAll\)'),
            'enum_cite': fn(var, r'^func \(sv \*SysVar\) checkEnumSystemVar\('),
            'bool_cite': fn(var, r'^func \(sv \*SysVar\) checkBoolSystemVar\('),
            'int_cite': fn(var, r'^func \(sv \*SysVar\) checkInt64SystemVar\('),
            'unsigned_cite': fn(var, r'^func \(sv \*SysVar\) checkUInt64SystemVar\('),
            'float_cite': fn(var, r'^func \(sv \*SysVar\) checkFloatSystemVar\('),
            'duration_cite': fn(var, r'^func \(sv \*SysVar\) checkDurationSystemVar\('),
            'time_cite': fn(var, r'^func \(sv \*SysVar\) checkTimeSystemVar\('),
            'out_of_range': 'an int, unsigned, float or duration outside [min, max] is not refused: TiDB sets the bound and warns (ErrTruncatedWrongValue)',
            'out_of_range_cite': fn(var, r'vars\.StmtCtx\.AppendWarning\(ErrTruncatedWrongValue\.FastGenByArgs\(sv\.Name, value\)\)'),
        },
        'unknown_variable': refusal('ErrUnknownSystemVar', 'ErrUnknownSystemVariable', ['name'],
                                    'no sysvar of that name (the executor\'s SET path that returns it was not read)'),
        'read_only': refusal('ErrIncorrectScope', 'ErrIncorrectGlobalLocalVar', ['name', 'scope'],
                             'ReadOnly or ScopeNone: validateScope passes "read only" for the second argument'),
        'session_only': refusal('errLocalVariable', 'ErrLocalVariable', ['name'], 'SET GLOBAL of a variable without GLOBAL or INSTANCE scope'),
        'global_only': refusal('errGlobalVariable', 'ErrGlobalVariable', ['name'], 'SET SESSION of a variable without SESSION scope'),
        'wrong_value': refusal('ErrWrongValueForVar', 'ErrWrongValueForVar', ['name', 'value'], 'a bool or enum value that is none of the allowed ones'),
        'wrong_type': refusal('ErrWrongTypeForVar', 'ErrWrongTypeForVar', ['name'],
                              'an int, unsigned or float that does not parse, an empty number, a duration Go\'s time.ParseDuration refuses'),
    }}


def tidb_config_tables(tidb):
    cfg = 'pkg/config/config.go'
    keys = []
    go_keys(tidb, 'github.com/pingcap/tidb', 'pkg/config', 'Config', '', keys)
    msg_line = tidb.find(cfg, r'return fmt\.Sprintf\("config file %s contained invalid configuration options: %s; check "\+')
    parts, i = [], msg_line - 1
    while True:
        # the format string is split over lines joined with "+"
        l = tidb.lines(cfg)[i]
        parts += re.findall(r'"((?:\\.|[^"\\])*)"', l)
        if not l.rstrip().endswith('+'):
            break
        i += 1
    msg = ''.join(parts)
    msg = msg.replace('%s', '{file}', 1).replace('%s', '{keys}', 1)
    return {'tidb_config': {
        'decoder': 'BurntSushi/toml (pkg/config/config.go imports it; the version TiDB pins was not read): read like PD\'s, '
                   'a key matches a toml tag, else a field name case-insensitively; fields tagged "-" are no keys',
        'decoder_cite': tidb.cite(cfg, tidb.find(cfg, r'"github\.com/BurntSushi/toml"')),
        'keys': keys,
        'unknown_key': {
            'severity': 'warning (fatal under -config-strict or -config-check)',
            'message': msg,
            'cite': tidb.cite(cfg, msg_line),
            'undecoded_cite': tidb.cite(cfg, tidb.find(cfg, r'undecoded := metaData\.Undecoded\(\)')),
            'handling': {'what': 'tidb-server prints the message to stderr and starts, unless -config-strict or -config-check is given '
                                 '(then it stops); a file whose unknown keys are all removed options only ever warns',
                         'cite': tidb.cite(cfg, tidb.find(cfg, r'if \(!configCheck && !configStrict\) \|\| isAllRemovedConfigItems\(tmp\.UndecodedItems\) \{')),
                         'print_cite': tidb.cite(cfg, tidb.find(cfg, r'fmt\.Fprintln\(os\.Stderr, err\.Error\(\)\)'))},
        },
    }}


def main():
    if len(sys.argv) == 4 and sys.argv[1] == '--tidb-git':
        # carry the PD, TiKV and pd-ctl parts over from the earlier output on
        # stdin; read every tidb-server part (argv, config keys, system
        # variables) again from a pingcap/tidb mirror at a tag
        old = json.load(sys.stdin)
        tidb = Repo('pingcap/tidb', sys.argv[2], sys.argv[3])
        commit = subprocess.run(['git', '-C', tidb.git, 'rev-parse', f'{tidb.tag}^{{commit}}'],
                                capture_output=True, text=True, check=True).stdout.strip()
        out = {k: v for k, v in old.items() if k not in ('tidb_server', 'tidb_config', 'tidb_sysvars')}
        out['sources'] = dict(old['sources'], **{'pingcap/tidb': f'{tidb.tag} (commit {commit}); ' + TIDB_TAG_NOTE})
        out.update(tidb_tables(tidb))
        out.update(tidb_config_tables(tidb))
        out.update(tidb_sysvar_tables(tidb))
        json.dump(out, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write('\n')
        return
    if len(sys.argv) == 3 and sys.argv[1] == '--tidb-files':
        # carry the PD, TiKV, pd-ctl and tidb-server argv parts over from the
        # earlier output on stdin; read tidb-server's config keys and system
        # variables again from the saved pingcap/tidb files
        old = json.load(sys.stdin)
        tidb = Files('pingcap/tidb', sys.argv[2], TIDB_FILES)
        out = {k: v for k, v in old.items() if k not in ('tidb_config', 'tidb_sysvars')}
        src = old['sources'].get('pingcap/tidb')
        main_go = src if isinstance(src, str) else src.get('cmd/tidb-server/main.go')
        files = {'cmd/tidb-server/main.go': main_go}
        for path, commit in tidb.commits.items():
            note = 'a commit the search index holds this file at, not the v8.5.7 tag'
            if path in TIDB_PARTIAL:
                kept, total = TIDB_PARTIAL[path]
                note += f'; only its first {kept} of {total} characters were saved and read'
            files[path] = f'{commit} ({note})'
        out['sources'] = dict(old['sources'], **{'pingcap/tidb': files})
        out.update(tidb_config_tables(tidb))
        out.update(tidb_sysvar_tables(tidb))
        json.dump(out, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write('\n')
        return
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
        for k in ('tidb_server', 'tidb_config', 'tidb_sysvars'):
            if k in old:
                out[k] = old[k]
        if 'pingcap/tidb' in old.get('sources', {}):
            out['sources']['pingcap/tidb'] = old['sources']['pingcap/tidb']
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write('\n')


main()
