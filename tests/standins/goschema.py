#!/usr/bin/env python3
"""Writes google.json, the schema the stand-in google provider serves, from
a checkout of hashicorp/terraform-provider-google (SDKv2 schema maps in Go).

    tests/standins/goschema.py /path/to/terraform-provider-google > tests/standins/google.json

Only what the GKE example touches is taken (the SPEC below), plus every
Required attribute of each block it takes, and every value cites the Go line
it was read from. Type, Required/Optional/Computed, Sensitive, ForceNew and
MaxItems are read from the entry itself; SDKv2's own rules make the nesting
(a list or set of schema.Resource is a block unless Computed only or
ConfigMode: SchemaConfigModeAttr, then an attribute of objects)."""
import json, re, subprocess, sys

REPO = sys.argv[1] if len(sys.argv) > 1 else '.'
COMMIT = subprocess.run(['git', '-C', REPO, 'rev-parse', 'HEAD'], capture_output=True, text=True, check=True).stdout.strip()
C = 'google/services/compute/'
K = 'google/services/container/'
# resource type: (file, attribute paths the example sets or reads, {entry: (file, line of the function/var that holds its schema)})
SPEC = {
    'google_compute_network': (C + 'resource_compute_network.go', ['name', 'auto_create_subnetworks'], {}),
    'google_compute_subnetwork': (C + 'resource_compute_subnetwork.go', ['name', 'region', 'network', 'ip_cidr_range', 'secondary_ip_range.range_name', 'secondary_ip_range.ip_cidr_range'], {}),
    'google_container_cluster': (K + 'resource_container_cluster.go', ['name', 'location', 'network', 'subnetwork', 'node_locations', 'initial_node_count', 'datapath_provider', 'ip_allocation_policy.cluster_secondary_range_name', 'ip_allocation_policy.services_secondary_range_name', 'node_config.machine_type', 'node_config.disk_size_gb', 'node_config.tags', 'deletion_protection', 'endpoint', 'master_auth.cluster_ca_certificate', 'node_pool.managed_instance_group_urls'],
                                 {'node_config': (K + 'node_config.go', 'func schemaNodeConfig()'), 'node_pool': (K + 'resource_container_node_pool.go', 'var schemaNodePool =')}),
    'google_compute_address': (C + 'resource_compute_address.go', ['name', 'region', 'address_type', 'subnetwork', 'address'], {}),
    'google_compute_firewall': (C + 'resource_compute_firewall.go', ['name', 'network', 'source_ranges', 'target_tags', 'allow.protocol', 'allow.ports'], {}),
    'google_compute_global_address': (C + 'resource_compute_global_address.go', ['name', 'address'], {}),
    'google_compute_health_check': (C + 'resource_compute_health_check.go', ['name', 'check_interval_sec', 'timeout_sec', 'healthy_threshold', 'unhealthy_threshold', 'http_health_check.port_specification', 'http_health_check.request_path'], {}),
    'google_compute_instance_group_named_port': (C + 'resource_compute_instance_group_named_port.go', ['group', 'zone', 'name', 'port'], {}),
    'google_compute_backend_service': (C + 'resource_compute_backend_service.go', ['name', 'protocol', 'port_name', 'load_balancing_scheme', 'health_checks', 'connection_draining_timeout_sec', 'backend.group', 'backend.balancing_mode', 'backend.capacity_scaler'], {}),
    'google_compute_managed_ssl_certificate': (C + 'resource_compute_managed_ssl_certificate.go', ['name', 'managed.domains'], {}),
    'google_compute_url_map': (C + 'resource_compute_url_map.go', ['name', 'default_service', 'default_url_redirect.https_redirect', 'default_url_redirect.redirect_response_code', 'default_url_redirect.strip_query'], {}),
    'google_compute_target_https_proxy': (C + 'resource_compute_target_https_proxy.go', ['name', 'url_map', 'ssl_certificates'], {}),
    'google_compute_target_http_proxy': (C + 'resource_compute_target_http_proxy.go', ['name', 'url_map'], {}),
    'google_compute_global_forwarding_rule': (C + 'resource_compute_global_forwarding_rule.go', ['name', 'load_balancing_scheme', 'target', 'ip_address', 'port_range'], {}),
}
# every resource: the id SDKv2 adds, and the project where the resource has one
ALWAYS = ['project']


def src(path):
    text = subprocess.run(['git', '-C', REPO, 'show', 'HEAD:' + path], capture_output=True, text=True, check=True).stdout
    # raw strings (descriptions) may span lines and hold braces: blank them, keeping line numbers
    text = re.sub(r'`[^`]*`', lambda m: '""' + '\n' * m.group(0).count('\n'), text)
    return text.split('\n')


def strip(l):
    l = re.sub(r'`[^`]*`', '""', l)
    l = re.sub(r'"(\\.|[^"\\])*"', '""', l)
    return re.sub(r'//.*', '', l)


def tree(lines, start=0, end=None):
    """The `"key": {` entries of lines[start:end] as a tree by brace depth."""
    root = {'children': {}, 'own': [], 'line': start + 1}
    stack, depth = [(root, -1)], 0
    for i in range(start, end if end is not None else len(lines)):
        l = lines[i]
        code = strip(l)
        m = re.match(r'^\s*"([a-z0-9_]+)":\s*(\{|(\w+)\(\),)', l)
        d = code.count('{') - code.count('}')
        node = stack[-1][0]
        if m and (d > 0 or m.group(3)):
            n = {'name': m.group(1), 'line': i + 1, 'children': {}, 'own': [], 'call': m.group(3)}
            node['children'].setdefault(m.group(1), []).append(n)
            if d > 0:
                stack.append((n, depth))
                depth += d
            continue
        if depth == stack[-1][1] + 1:
            node['own'].append(code)
        elif len(stack) > 1 and re.search(r'Elem:\s*&schema\.(Schema|Resource)', l):
            node['own'].append(code)
        depth += d
        while len(stack) > 1 and depth <= stack[-1][1]:
            stack.pop()
    return root


def body_end(lines, start):
    depth, seen = 0, False
    for i in range(start, len(lines)):
        c = strip(lines[i])
        depth += c.count('{') - c.count('}')
        seen = seen or '{' in c
        if seen and depth <= 0:
            return i + 1
    return len(lines)


def flags(own):
    t = '\n'.join(own)
    g = lambda k: bool(re.search(k + r':\s*true', t))
    ty = re.search(r'Type:\s*schema\.Type(\w+)', t)
    mi = re.search(r'MaxItems:\s*(\d+)', t)
    return dict(type=ty.group(1) if ty else None, required=g('Required'), optional=g('Optional'), computed=g('Computed'),
                sensitive=g('Sensitive'), force_new=g('ForceNew'), max_items=int(mi.group(1)) if mi else 0,
                attr_mode='SchemaConfigModeAttr' in t)


def elem_of(lines, n, file):
    """The element of a List/Set/Map entry: a primitive type name, or 'resource'."""
    end = body_end(lines, n['line'] - 1)
    body = '\n'.join(strip(l) for l in lines[n['line'] - 1:end])
    # a block's body holds its children's Elem too: look for a Resource first
    if re.search(r'Elem:\s*&schema\.Resource', body) or n['children']:
        return 'resource'
    if re.search(r'Elem:\s*\w+\(\)', body):
        return 'resource'
    m = re.search(r'Elem:\s*&schema\.Schema\{\s*Type:\s*schema\.Type(\w+)', body)
    if m:
        return m.group(1)
    return 'String'


PRIM = {'String': 'string', 'Int': 'number', 'Float': 'number', 'Bool': 'bool'}


def cite(file, line):
    return f'hashicorp/terraform-provider-google@{COMMIT[:12]} {file}:{line}'


def build(file, lines, node, paths, overrides):
    """A block (attributes and nested blocks) for the touched paths under node."""
    want = {}
    for p in paths:
        head, _, rest = p.partition('.')
        want.setdefault(head, [])
        if rest:
            want[head].append(rest)
    for name, kids in node['children'].items():
        if name not in want and any('Required' in o and 'true' in o for o in [' '.join(kids[0]['own'])]):
            if flags(kids[0]['own'])['required']:
                want[name] = []
    out = {'attributes': [], 'blocks': []}
    for name in sorted(want):
        if name not in node['children']:
            if name in ALWAYS:
                continue
            raise SystemExit(f'{file}: no entry {name!r} under line {node["line"]}')
        n = node['children'][name][0]
        nfile, nlines = file, lines
        f = flags(n['own'])
        children_node = n
        if name in overrides:
            nfile, marker = overrides[name]
            nlines = src(nfile)
            start = next(i for i, l in enumerate(nlines) if l.startswith(marker))
            end = body_end(nlines, start)
            children_node = tree(nlines, start, end)
            if n.get('call'):
                f = flags([strip(l) for l in nlines[start:start + 12] if not re.match(r'^\s*"', l)][:12])
                children_node['line'] = start + 1
                n = dict(n, line=start + 1)
        call = re.search(r'Elem:\s*(\w+)\(\)', '\n'.join(strip(l) for l in nlines[n['line'] - 1:body_end(nlines, n['line'] - 1)]))
        if call and name not in overrides:
            start = next(i for i, l in enumerate(nlines) if l.startswith(f'func {call.group(1)}()'))
            children_node = tree(nlines, start, body_end(nlines, start))
        ty = f['type']
        elem = elem_of(nlines, n, nfile) if ty in ('List', 'Set', 'Map') and not (name in overrides) else ('resource' if name in overrides else None)
        c = cite(nfile if name in overrides and n.get('call') else file, n['line'])
        if elem == 'resource' and (f['attr_mode'] or (f['computed'] and not f['optional'] and not f['required'])):
            inner = build(nfile, nlines, children_node, want[name], {})
            out['attributes'].append(dict(name=name, type=[ty.lower(), ['object', {a['name']: a['type'] for a in inner['attributes']}]],
                                          required=f['required'], optional=f['optional'], computed=f['computed'], sensitive=f['sensitive'],
                                          force_new=f['force_new'], cite=c, nested=inner['attributes']))
        elif elem == 'resource':
            inner = build(nfile, nlines, children_node, want[name], {})
            out['blocks'].append(dict(name=name, nesting=ty.lower(), max_items=f['max_items'], min_items=1 if f['required'] else 0,
                                      optional=f['optional'], computed=f['computed'], force_new=f['force_new'], cite=c, block=inner))
        else:
            t = PRIM[ty] if ty in PRIM else [ty.lower(), PRIM[elem]]
            out['attributes'].append(dict(name=name, type=t, required=f['required'], optional=f['optional'], computed=f['computed'],
                                          sensitive=f['sensitive'], force_new=f['force_new'], cite=c))
    return out


def resource(rtype):
    file, paths, overrides = SPEC[rtype]
    lines = src(file)
    fn = next(i for i, l in enumerate(lines) if re.match(r'func Resource\w+\(\) \*schema\.Resource \{', l))
    start = next(i for i, l in enumerate(lines) if i > fn and re.search(r'Schema:\s*map\[string\]\*schema\.Schema\{', l))
    root = tree(lines, start, body_end(lines, start))
    has_project = 'project' in root['children']
    blk = build(file, lines, root, paths + (['project'] if has_project else []), overrides)
    # SDKv2 adds "id" to every resource (helper/schema core_schema.go)
    blk['attributes'].insert(0, dict(name='id', type='string', required=False, optional=True, computed=True, sensitive=False,
                                     force_new=False, cite='hashicorp/terraform-plugin-sdk helper/schema/core_schema.go (CoreConfigSchema adds an optional computed id)'))
    return dict(source=cite(file, start + 1), block=blk)


def client_config():
    file = 'google/services/resourcemanager/data_source_google_client_config.go'
    lines = src(file)
    attrs = []
    for i, l in enumerate(lines):
        m = re.match(r'^\s*"([a-z_]+)":\s*schema\.(String|Map)Attribute\{', l)
        if m and m.group(1) in ('id', 'project', 'region', 'zone', 'access_token'):
            body = '\n'.join(lines[i:body_end(lines, i)])
            attrs.append(dict(name=m.group(1), type='string', required=False, optional='Optional: ' in body and 'true' in body.split('Optional:')[1][:20],
                              computed='Computed:' in body, sensitive='Sensitive:' in body, force_new=False, cite=cite(file, i + 1)))
    return dict(source=cite(file, 1), block=dict(attributes=attrs, blocks=[]))


def provider_config():
    file = 'google/provider/provider.go'
    lines = src(file)
    fn = next(i for i, l in enumerate(lines) if l.startswith('func Provider()'))
    start = next(i for i, l in enumerate(lines) if i > fn and 'Schema: map[string]*schema.Schema{' in l)
    root = tree(lines, start, body_end(lines, start))
    return build(file, lines, root, ['project', 'region', 'zone'], {})


out = {'provider': 'hashicorp/google', 'commit': COMMIT, 'provider_config': provider_config(),
       'resources': {r: resource(r) for r in sorted(SPEC)},
       'data_sources': {'google_client_config': client_config()}}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
print()
