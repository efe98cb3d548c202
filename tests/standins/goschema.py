#!/usr/bin/env python3
"""Writes the schema a stand-in provider serves (tests/standins/<provider>.json)
from the real provider's Go source (SDKv2 schema maps).

    tests/standins/goschema.py google /path/to/terraform-provider-google > tests/standins/google.json
    tests/standins/goschema.py aws /path/to/terraform-provider-aws-index > tests/standins/aws.json

google reads a checkout of hashicorp/terraform-provider-google. aws reads
lonegunmanb/terraform-provider-aws-index, which holds the source of every
function of hashicorp/terraform-provider-aws at one release, one function a
file (the provider's own repository is too large to fetch where geowp is
tested); its lines are cited.

Only what the examples touch is taken (the SPECs below), plus every
Required attribute of each block taken, and every value cites the Go line
it was read from. Type, Required/Optional/Computed, Sensitive, ForceNew and
MaxItems are read from the entry itself; SDKv2's own rules make the nesting
(a list or set of schema.Resource is a block unless Computed only or
ConfigMode: SchemaConfigModeAttr, then an attribute of objects)."""
import json, re, subprocess, sys

PROVIDER, REPO = sys.argv[1], sys.argv[2]
COMMIT = subprocess.run(['git', '-C', REPO, 'rev-parse', 'HEAD'], capture_output=True, text=True, check=True).stdout.strip()
# the index's commits say which release they hold: "Update index files for terraform-provider-aws v6.58.0"
AWS_VERSION = subprocess.run(['git', '-C', REPO, 'log', '-1', '--format=%s'], capture_output=True, text=True, check=True).stdout.strip().split()[-1]
C = 'google/services/compute/'
K = 'google/services/container/'
# resource type: (file, attribute paths the example sets or reads, {entry: (file, line of the function/var that holds its schema)})
GOOGLE = {
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
E = 'index/internal/service/ec2/'
TAGS = ['tags']
# what the EKS example (examples/terraform/eks) sets or reads
AWS = {
    'aws_vpc': (E + 'func.resourceVPC.goindex', ['cidr_block', 'enable_dns_hostnames'] + TAGS, {}),
    'aws_subnet': (E + 'func.resourceSubnet.goindex', ['vpc_id', 'availability_zone', 'cidr_block'] + TAGS, {}),
    'aws_internet_gateway': (E + 'func.resourceInternetGateway.goindex', ['vpc_id'] + TAGS, {}),
    'aws_eip': (E + 'func.resourceEIP.goindex', ['domain'] + TAGS, {}),
    'aws_nat_gateway': (E + 'func.resourceNATGateway.goindex', ['allocation_id', 'subnet_id'] + TAGS, {}),
    'aws_route_table': (E + 'func.resourceRouteTable.goindex', ['vpc_id'] + TAGS, {}),
    'aws_route': (E + 'func.resourceRoute.goindex', ['route_table_id', 'destination_cidr_block', 'gateway_id', 'nat_gateway_id', 'vpc_peering_connection_id'], {}),
    'aws_route_table_association': (E + 'func.resourceRouteTableAssociation.goindex', ['subnet_id', 'route_table_id'], {}),
    'aws_vpc_peering_connection': (E + 'func.resourceVPCPeeringConnection.goindex', ['vpc_id', 'peer_vpc_id', 'peer_region'] + TAGS, {}),
    'aws_vpc_peering_connection_accepter': (E + 'func.resourceVPCPeeringConnectionAccepter.goindex', ['vpc_peering_connection_id', 'auto_accept'] + TAGS, {}),
    'aws_iam_role': ('index/internal/service/iam/func.resourceRole.goindex', ['name', 'assume_role_policy', 'arn'], {}),
    # wp-content on EFS: the file system, a mount target per private subnet
    # behind a security group that admits NFS from the VPC, and the EFS CSI
    # driver as an EKS add-on with a Pod Identity role
    'aws_efs_file_system': ('index/internal/service/efs/func.resourceFileSystem.goindex', ['encrypted', 'creation_token'] + TAGS, {}),
    'aws_efs_mount_target': ('index/internal/service/efs/func.resourceMountTarget.goindex', ['file_system_id', 'subnet_id', 'security_groups'], {}),
    'aws_security_group': (E + 'func.resourceSecurityGroup.goindex', ['name', 'description', 'vpc_id'] + TAGS, {}),
    'aws_security_group_rule': (E + 'func.resourceSecurityGroupRule.goindex', ['type', 'from_port', 'to_port', 'protocol', 'cidr_blocks', 'security_group_id'], {}),
    'aws_eks_addon': ('index/internal/service/eks/func.resourceAddon.goindex', ['cluster_name', 'addon_name', 'pod_identity_association.role_arn', 'pod_identity_association.service_account'], {}),
    'aws_iam_role_policy_attachment': ('index/internal/service/iam/func.resourceRolePolicyAttachment.goindex', ['role', 'policy_arn'], {}),
    'aws_eks_cluster': ('index/internal/service/eks/func.resourceCluster.goindex',
                        ['name', 'role_arn', 'version', 'bootstrap_self_managed_addons', 'access_config.authentication_mode', 'access_config.bootstrap_cluster_creator_admin_permissions',
                         'compute_config.enabled', 'compute_config.node_pools', 'compute_config.node_role_arn', 'kubernetes_network_config.elastic_load_balancing.enabled',
                         'storage_config.block_storage.enabled', 'vpc_config.subnet_ids', 'vpc_config.endpoint_private_access', 'vpc_config.endpoint_public_access',
                         'endpoint', 'certificate_authority.data'], {}),
    'aws_acm_certificate': ('index/internal/service/acm/func.resourceCertificate.goindex',
                            ['domain_name', 'validation_method', 'arn', 'domain_validation_options.domain_name', 'domain_validation_options.resource_record_name',
                             'domain_validation_options.resource_record_type', 'domain_validation_options.resource_record_value'], {}),
    'aws_acm_certificate_validation': ('index/internal/service/acm/func.resourceCertificateValidation.goindex', ['certificate_arn', 'validation_record_fqdns'], {}),
    'aws_route53_record': ('index/internal/service/route53/func.resourceRecord.goindex',
                           ['zone_id', 'name', 'type', 'ttl', 'records', 'allow_overwrite', 'fqdn', 'set_identifier', 'health_check_id', 'latency_routing_policy.region',
                            'alias.name', 'alias.zone_id', 'alias.evaluate_target_health'], {}),
    'aws_route53_health_check': ('index/internal/service/route53/func.resourceHealthCheck.goindex',
                                 ['type', 'fqdn', 'port', 'resource_path', 'request_interval', 'failure_threshold'] + TAGS, {}),
}
AWS_DATA = {
    'aws_eks_cluster_auth': ('index/internal/service/eks/func.dataSourceClusterAuth.goindex', ['name', 'token'], {}),
    'aws_lb_hosted_zone_id': ('index/internal/service/elbv2/func.dataSourceHostedZoneID.goindex', ['load_balancer_type'], {}),
}
SPEC = GOOGLE if PROVIDER == 'google' else AWS
# names.AttrX constants the aws schemas use: hashicorp/terraform-provider-aws
# names/attr_consts_gen.go spells each as its snake_case, acronyms whole
ACRONYMS = {'ARN': 'arn', 'ARNs': 'arns', 'IDs': 'ids', 'ID': 'id', 'VPC': 'vpc', 'CIDR': 'cidr', 'DNS': 'dns', 'IP': 'ip', 'IPv6': 'ipv6',
            'IAM': 'iam', 'KMS': 'kms', 'SNS': 'sns', 'URI': 'uri', 'URL': 'url', 'TTL': 'ttl', 'FQDN': 'fqdn', 'JSON': 'json', 'IOPS': 'iops'}


def attr_const(name):
    """names.AttrVPCConfig -> vpc_config."""
    rest, words = name[len('Attr'):], []
    while rest:
        for a in sorted(ACRONYMS, key=len, reverse=True):
            if rest.startswith(a) and (len(rest) == len(a) or rest[len(a)].isupper()):
                words.append(ACRONYMS[a])
                rest = rest[len(a):]
                break
        else:
            m = re.match(r'[A-Z][a-z0-9]*', rest)
            if not m:
                raise SystemExit(f'cannot spell names.{name}')
            words.append(m.group(0).lower())
            rest = rest[m.end():]
    return '_'.join(words)


# where SDKv2 adds "id" to every resource: hashicorp/terraform-plugin-sdk
# at 9e601691167d, CoreConfigSchema
SDK_ID_CITE = 'hashicorp/terraform-plugin-sdk@9e601691167d helper/schema/core_schema.go:318 (CoreConfigSchema adds an optional computed id)'
# every google resource: the project where the resource has one
ALWAYS = ['project'] if PROVIDER == 'google' else []
# schema helpers the aws resources call: tags in, tags with the provider's default tags out
CALLS = {'tftags.TagsSchema': dict(type=['map', 'string'], required=False, optional=True, computed=False),
         'tftags.TagsSchemaComputed': dict(type=['map', 'string'], required=False, optional=False, computed=True)}


def package_const(ident):
    """An attribute name the aws source keeps in a package variable or
    constant (routeDestinationCIDRBlock): its value, from the index."""
    for kind in ('var', 'const'):
        for d in PACKAGE_DIRS:
            r = subprocess.run(['git', '-C', REPO, 'show', f'HEAD:{d}{kind}.{ident}.goindex'], capture_output=True, text=True)
            if r.returncode == 0:
                m = re.search(ident + r'\s*=\s*"([a-z0-9_]+)"', r.stdout)
                if m:
                    return m.group(1)
    raise SystemExit(f'no value for {ident} in {PACKAGE_DIRS}')


PACKAGE_DIRS = []


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
        m = re.match(r'^\s*(?:"([a-z0-9_]+)"|names\.(Attr\w+)|([a-z]\w*)):\s*(\{|([\w.]+)\(\),)', l)
        d = code.count('{') - code.count('}')
        node = stack[-1][0]
        if m and m.group(3) and (PROVIDER == 'google' or m.group(3) in ('Elem', 'Schema')):
            m = None
        if m and (d > 0 or m.group(5)):
            key = m.group(1) or (attr_const(m.group(2)) if m.group(2) else package_const(m.group(3)))
            n = {'name': key, 'line': i + 1, 'children': {}, 'own': [], 'call': m.group(5)}
            node['children'].setdefault(key, []).append(n)
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
    if PROVIDER == 'google':
        return f'hashicorp/terraform-provider-google@{COMMIT[:12]} {file}:{line}'
    return f'lonegunmanb/terraform-provider-aws-index@{COMMIT[:12]} {file}:{line} (hashicorp/terraform-provider-aws {AWS_VERSION})'


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
        if n.get('call') in CALLS:
            out['attributes'].append(dict(name=name, sensitive=False, force_new=False, cite=cite(file, n['line']) + f' {n["call"]}()', **CALLS[n['call']]))
            continue
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


def resource(rtype, spec=None):
    file, paths, overrides = (spec or SPEC)[rtype]
    PACKAGE_DIRS[:] = [file.rsplit('/', 1)[0] + '/']
    lines = src(file)
    fn = next(i for i, l in enumerate(lines) if re.match(r'func ([Rr]esource|dataSource)\w+\(\) \*schema\.Resource \{', l))
    # the resource's own schema (two tabs in), not an Identity schema deeper in
    start = next(i for i, l in enumerate(lines) if i > fn and re.match(r'\t\t(Schema: map\[string\]\*schema\.Schema\{|SchemaFunc: func\(\) map\[string\]\*schema\.Schema \{)', l))
    root = tree(lines, start, body_end(lines, start))
    has_project = 'project' in root['children']
    blk = build(file, lines, root, paths + (['project'] if has_project else []), overrides)
    # SDKv2 adds "id" to every resource (helper/schema core_schema.go)
    blk['attributes'].insert(0, dict(name='id', type='string', required=False, optional=True, computed=True, sensitive=False,
                                     force_new=False, cite=SDK_ID_CITE))
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
    file, marker, attrs = (('google/provider/provider.go', 'func Provider()', ['project', 'region', 'zone']) if PROVIDER == 'google'
                           else ('index/internal/provider/sdkv2/func.NewProvider.goindex', 'func NewProvider(', ['region']))
    lines = src(file)
    fn = next(i for i, l in enumerate(lines) if l.startswith(marker))
    start = next(i for i, l in enumerate(lines) if i > fn and 'Schema: map[string]*schema.Schema{' in l)
    root = tree(lines, start, body_end(lines, start))
    return build(file, lines, root, attrs, {})


if PROVIDER == 'google':
    out = {'provider': 'hashicorp/google', 'commit': COMMIT, 'provider_config': provider_config(),
           'resources': {r: resource(r) for r in sorted(SPEC)},
           'data_sources': {'google_client_config': client_config()}}
else:
    out = {'provider': 'hashicorp/aws', 'commit': COMMIT, 'provider_config': provider_config(),
           'resources': {r: resource(r) for r in sorted(SPEC)},
           'data_sources': {d: resource(d, AWS_DATA) for d in sorted(AWS_DATA)}}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
print()
