//! The command registry: every command the native door serves, described once as data (name,
//! description, async or not, since, related commands, who may call it, its parameters with
//! name/type/required/length/description, and its response fields). The dispatcher resolves
//! commands here and validates parameters against these specs; `listApis` renders the same
//! table, so it can never disagree with what is served.
//!
//! Beside it, `data/cloudstack-apis.txt` lists every API name CloudStack has, so a real
//! CloudStack command we do not serve yet answers 432 naming it instead of a silent 401.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::types::{
    Account, AsyncJob, Capability, Cluster, DiskOffering, Domain, Event, ForwardingRule, Host,
    Hypervisor, JobSubmitted, LoginResponse, LogoutResponse, Network, NetworkOffering, Nic, OsType,
    Pod, Project, PublicIpAddress, SecurityGroup, ServiceOffering, SshKeyPair, Success, Tag,
    Template, TemplatePermission, User, UserKeys, VirtualMachine, VpcInfo, VpcOffering, Zone,
};
use crate::wire::WireObject;
use crate::Role;

/// One field of a response object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: &'static str,
    pub description: &'static str,
    pub children: &'static [FieldSpec],
}

/// The type of a parameter, as CloudStack's `CommandType` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    String,
    Uuid,
    Boolean,
    Integer,
    Long,
    /// A comma-separated list of UUIDs.
    UuidList,
    /// A comma-separated list of strings.
    StringList,
    /// `name[i].field=value` entries.
    Map,
}

impl ParamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Uuid => "uuid",
            Self::Boolean => "boolean",
            Self::Integer => "integer",
            Self::Long => "long",
            Self::UuidList | Self::StringList => "list",
            Self::Map => "map",
        }
    }
}

/// One parameter of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    /// The longest value accepted for a string (CloudStack's default is 255).
    pub length: u32,
    pub description: &'static str,
    /// The version that added it; on a UUID parameter with a `since`, a value that is not a
    /// UUID is ignored (as CloudStack does) rather than refused.
    pub since: &'static str,
}

const fn param(name: &'static str, kind: ParamKind, description: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required: false,
        length: 255,
        description,
        since: "",
    }
}

const fn required(name: &'static str, kind: ParamKind, description: &'static str) -> ParamSpec {
    ParamSpec {
        required: true,
        ..param(name, kind, description)
    }
}

/// Who may call a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Anyone,
    /// Root and domain admins.
    Admins,
    RootAdmin,
}

impl Access {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Self::Anyone => true,
            Self::Admins => role != Role::User,
            Self::RootAdmin => role == Role::RootAdmin,
        }
    }
}

/// The commands served; the dispatcher matches on this exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Login,
    Logout,
    ListApis,
    ListCapabilities,
    ListZones,
    ListPods,
    ListClusters,
    ListHosts,
    AddHost,
    ListHypervisors,
    ListServiceOfferings,
    ListDiskOfferings,
    ListTemplates,
    RegisterTemplate,
    CreateTemplate,
    UpdateTemplate,
    DeleteTemplate,
    UpdateTemplatePermissions,
    ListTemplatePermissions,
    ListIsos,
    RegisterIso,
    UpdateIso,
    DeleteIso,
    AttachIso,
    DetachIso,
    ListOsTypes,
    ListDomains,
    ListAccounts,
    ListUsers,
    GetUser,
    ListVirtualMachines,
    ListProjects,
    DeployVirtualMachine,
    StartVirtualMachine,
    StopVirtualMachine,
    RebootVirtualMachine,
    DestroyVirtualMachine,
    RecoverVirtualMachine,
    ExpungeVirtualMachine,
    UpdateVirtualMachine,
    ChangeServiceForVirtualMachine,
    ResetSshKeyForVirtualMachine,
    QueryAsyncJobResult,
    ListAsyncJobs,
    ListEvents,
    ListPublicIpAddresses,
    ListPortForwardingRules,
    ListIpForwardingRules,
    CreateServiceOffering,
    UpdateServiceOffering,
    DeleteServiceOffering,
    CreateDiskOffering,
    DeleteDiskOffering,
    CreateDomain,
    UpdateDomain,
    DeleteDomain,
    CreateAccount,
    UpdateAccount,
    DeleteAccount,
    DisableAccount,
    EnableAccount,
    CreateUser,
    UpdateUser,
    DeleteUser,
    RegisterUserKeys,
    GetUserKeys,
    CreateSshKeyPair,
    RegisterSshKeyPair,
    ListSshKeyPairs,
    ListVolumes,
    ListSnapshots,
    CreateVolume,
    AttachVolume,
    DetachVolume,
    ResizeVolume,
    DeleteVolume,
    CreateSnapshot,
    DeleteSnapshot,
    DeleteSshKeyPair,
    CreateTags,
    DeleteTags,
    ListTags,
    ListNetworks,
    ListVpcs,
    ListNics,
    AssociateIpAddress,
    DisassociateIpAddress,
    EnableStaticNat,
    DisableStaticNat,
    CreateSecurityGroup,
    ListSecurityGroups,
    DeleteSecurityGroup,
    AuthorizeSecurityGroupIngress,
    AuthorizeSecurityGroupEgress,
    RevokeSecurityGroupIngress,
    RevokeSecurityGroupEgress,
    ListNetworkOfferings,
    ListVpcOfferings,
}

/// One served command.
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    pub command: Command,
    pub description: &'static str,
    pub since: &'static str,
    pub is_async: bool,
    pub related: &'static [&'static str],
    pub access: Access,
    /// Parameter groups: the list, scope and the command's own.
    pub params: &'static [&'static [ParamSpec]],
    /// The key of the items of a list reply (`zone`), or of a single object (`capability`).
    pub object: &'static str,
    pub response: &'static [FieldSpec],
}

impl CommandSpec {
    pub fn params(&self) -> impl Iterator<Item = &'static ParamSpec> {
        self.params.iter().flat_map(|group| group.iter())
    }

    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params().find(|p| p.name == name)
    }
}

use ParamKind::{
    Boolean, Integer, Long, Map as MapParam, String as Str, StringList, Uuid, UuidList,
};

/// Every list command's paging and search parameters.
pub const LIST_PARAMS: &[ParamSpec] = &[
    param("keyword", Str, "List by keyword"),
    param("page", Integer, "The page to list, from 1"),
    param(
        "pagesize",
        Integer,
        "The number of items a page, at most 500; -1 for all",
    ),
];

/// The tag filter of lists of taggable resources.
pub const TAG_PARAMS: &[ParamSpec] = &[param(
    "tags",
    MapParam,
    "List only resources with one of these tags: tags[0].key=k&tags[0].value=v",
)];

/// Scope parameters of lists of resources owned in domains.
pub const DOMAIN_SCOPE_PARAMS: &[ParamSpec] = &[
    param("domainid", Uuid, "List only resources of this domain"),
    param(
        "isrecursive",
        Boolean,
        "With domainid, include the domains below it",
    ),
    param(
        "listall",
        Boolean,
        "List everything the caller may see, not only its own",
    ),
];

/// Scope parameters of lists of resources owned by accounts.
pub const ACCOUNT_SCOPE_PARAMS: &[ParamSpec] = &[
    param(
        "account",
        Str,
        "List only resources of this account (with domainid)",
    ),
    param(
        "projectid",
        Uuid,
        "List only resources of this project; -1 for all projects",
    ),
];

const LOGIN_FIELDS: &[FieldSpec] = LoginResponse::FIELDS;

/// The parameters of authorizeSecurityGroupIngress and Egress.
const RULE_PARAMS: &[&[ParamSpec]] = &[&[
    param("securitygroupid", Uuid, "The ID of the group"),
    param("securitygroupname", Str, "The name of the group"),
    param(
        "protocol",
        Str,
        "tcp (the default), udp, icmp, all, or a protocol number",
    ),
    param("startport", Integer, "The first port (tcp and udp)"),
    param("endport", Integer, "The last port (tcp and udp)"),
    param("icmptype", Integer, "The ICMP type, -1 for any (icmp)"),
    param("icmpcode", Integer, "The ICMP code, -1 for any (icmp)"),
    param(
        "cidrlist",
        StringList,
        "The CIDRs admitted, comma-separated",
    ),
    param(
        "usersecuritygrouplist",
        MapParam,
        "The groups whose members are admitted: usersecuritygrouplist[0].account=a&\
         usersecuritygrouplist[0].group=g",
    ),
    param("account", Str, "The account of the group (with domainid)"),
    param("domainid", Uuid, "The domain of that account"),
    param("projectid", Uuid, "The project of the group (none here)"),
]];

const API_PARAM_FIELDS: &[FieldSpec] = &[
    field("name", "string", "the name of the parameter"),
    field("description", "string", "what the parameter does"),
    field("type", "string", "the type of the parameter"),
    field("length", "integer", "the longest value accepted"),
    field("required", "boolean", "true if the parameter must be given"),
    field("since", "string", "the version that added the parameter"),
    field(
        "related",
        "string",
        "commands whose results feed the parameter",
    ),
];

const API_RESPONSE_FIELDS: &[FieldSpec] = &[
    field("name", "string", "the name of the field"),
    field("description", "string", "what the field holds"),
    field("type", "string", "the type of the field"),
];

const API_FIELDS: &[FieldSpec] = &[
    field("name", "string", "the name of the API"),
    field("description", "string", "what the API does"),
    field(
        "isasync",
        "boolean",
        "true if the API runs as an asynchronous job",
    ),
    field("since", "string", "the version that added the API"),
    field("related", "string", "related APIs"),
    FieldSpec {
        name: "params",
        kind: "set",
        description: "the parameters of the API",
        children: API_PARAM_FIELDS,
    },
    FieldSpec {
        name: "response",
        kind: "set",
        description: "the fields of the API's response",
        children: API_RESPONSE_FIELDS,
    },
];

const fn field(name: &'static str, kind: &'static str, description: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        description,
        children: &[],
    }
}

const VM_ID: &[ParamSpec] = &[required("id", Uuid, "The ID of the instance")];

/// What the volume commands relate to.
const VOLUME_RELATED: &[&str] = &["listVolumes", "queryAsyncJobResult"];

const VM_RELATED: &[&str] = &["listVirtualMachines", "queryAsyncJobResult"];

/// The parameters naming an account: by id, or by name and domain.
const ACCOUNT_REF: &[ParamSpec] = &[
    param("id", Uuid, "The ID of the account"),
    param("account", Str, "The name of the account (with domainid)"),
    param("domainid", Uuid, "The domain of the named account"),
];

/// The owner of a key pair, for admins acting for another account.
const KEY_OWNER: &[ParamSpec] = &[
    param(
        "account",
        Str,
        "The account of the key pair (admins; with domainid)",
    ),
    param("domainid", Uuid, "The domain of that account"),
];

/// Who may use a template besides its owner.
const TEMPLATE_SHARING: &[ParamSpec] = &[
    param(
        "ispublic",
        Boolean,
        "True if every account may use the template",
    ),
    param(
        "isfeatured",
        Boolean,
        "True if the template is featured (admins)",
    ),
];

/// The parameters of a new user.
const NEW_USER: &[ParamSpec] = &[
    required("username", Str, "The user name, unique in its domain"),
    required("password", Str, "The password, in clear text (use HTTPS)"),
    required("email", Str, "The user's e-mail address"),
    required("firstname", Str, "The user's first name"),
    required("lastname", Str, "The user's last name"),
];

/// The filters of forwarding rule lists.
const FORWARDING_PARAMS: &[ParamSpec] = &[
    param("id", Uuid, "The ID of the rule"),
    param(
        "ipaddressid",
        Uuid,
        "List only rules of this public address",
    ),
    param(
        "virtualmachineid",
        Uuid,
        "List only rules forwarding to this instance",
    ),
];

/// The dates of log listings.
const DATE_PARAMS: &[ParamSpec] = &[
    param(
        "startdate",
        Str,
        "List only what happened from this date: yyyy-MM-dd or yyyy-MM-dd HH:mm:ss",
    ),
    param(
        "enddate",
        Str,
        "List only what happened until this date: yyyy-MM-dd or yyyy-MM-dd HH:mm:ss",
    ),
];

/// The served commands, in the order `listApis` gives them.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "login",
        command: Command::Login,
        description: "Logs a user in with a password and starts a session.",
        since: "",
        is_async: false,
        related: &["logout"],
        access: Access::Anyone,
        params: &[&[
            required("username", Str, "The user name"),
            required("password", Str, "The password, in clear text (use HTTPS)"),
            param("domain", Str, "The path of the user's domain, / for ROOT"),
            param("domainId", Uuid, "The ID of the user's domain"),
        ]],
        object: "",
        response: LOGIN_FIELDS,
    },
    CommandSpec {
        name: "logout",
        command: Command::Logout,
        description: "Ends the caller's session.",
        since: "",
        is_async: false,
        related: &["login"],
        access: Access::Anyone,
        params: &[],
        object: "",
        response: LogoutResponse::FIELDS,
    },
    CommandSpec {
        name: "listApis",
        command: Command::ListApis,
        description: "Lists the APIs the caller may call, with their parameters and responses.",
        since: "4.1.0",
        is_async: false,
        related: &[],
        access: Access::Anyone,
        params: &[&[param("name", Str, "List only the API of this name")]],
        object: "api",
        response: API_FIELDS,
    },
    CommandSpec {
        name: "listCapabilities",
        command: Command::ListCapabilities,
        description: "Tells what the cloud can do.",
        since: "",
        is_async: false,
        related: &[],
        access: Access::Anyone,
        params: &[],
        object: "capability",
        response: Capability::FIELDS,
    },
    CommandSpec {
        name: "listZones",
        command: Command::ListZones,
        description: "Lists zones.",
        since: "",
        is_async: false,
        related: &["listPods"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            &[
                param("id", Uuid, "The ID of the zone"),
                param("name", Str, "The name of the zone"),
            ],
        ],
        object: "zone",
        response: Zone::FIELDS,
    },
    CommandSpec {
        name: "listPods",
        command: Command::ListPods,
        description: "Lists pods.",
        since: "",
        is_async: false,
        related: &["listZones", "listClusters"],
        access: Access::RootAdmin,
        params: &[
            LIST_PARAMS,
            &[
                param("id", Uuid, "The ID of the pod"),
                param("name", Str, "The name of the pod"),
                param("zoneid", Uuid, "List only pods of this zone"),
            ],
        ],
        object: "pod",
        response: Pod::FIELDS,
    },
    CommandSpec {
        name: "listClusters",
        command: Command::ListClusters,
        description: "Lists clusters.",
        since: "",
        is_async: false,
        related: &["listPods", "listHosts"],
        access: Access::RootAdmin,
        params: &[
            LIST_PARAMS,
            &[
                param("id", Uuid, "The ID of the cluster"),
                param("name", Str, "The name of the cluster"),
                param("zoneid", Uuid, "List only clusters of this zone"),
                param("podid", Uuid, "List only clusters of this pod"),
                param("hypervisor", Str, "List only clusters of this hypervisor"),
            ],
        ],
        object: "cluster",
        response: Cluster::FIELDS,
    },
    CommandSpec {
        name: "listHosts",
        command: Command::ListHosts,
        description: "Lists hypervisor hosts.",
        since: "",
        is_async: false,
        related: &["listClusters"],
        access: Access::RootAdmin,
        params: &[
            LIST_PARAMS,
            &[
                param("id", Uuid, "The ID of the host"),
                param("name", Str, "The name of the host"),
                param("zoneid", Uuid, "List only hosts of this zone"),
                param("podid", Uuid, "List only hosts of this pod"),
                param("clusterid", Uuid, "List only hosts of this cluster"),
                param("hypervisor", Str, "List only hosts of this hypervisor"),
                param(
                    "state",
                    Str,
                    "List only hosts in this state (Up, Down, ...)",
                ),
                param("type", Str, "List only hosts of this type (Routing)"),
            ],
        ],
        object: "host",
        response: Host::FIELDS,
    },
    CommandSpec {
        name: "addHost",
        command: Command::AddHost,
        description: "Adds a hypervisor host to a cluster.",
        since: "",
        is_async: false,
        related: &["listHosts", "listClusters"],
        access: Access::RootAdmin,
        params: &[&[
            required("zoneid", Uuid, "The ID of the host's zone"),
            required("podid", Uuid, "The ID of the host's pod"),
            param("clusterid", Uuid, "The ID of the host's cluster"),
            param(
                "clustername",
                Str,
                "The name of the host's cluster; a new one is made in the pod",
            ),
            required("url", Str, "The host's URL: http://name/..."),
            required("username", Str, "The user name to reach the host"),
            required(
                "password",
                Str,
                "The password to reach the host (never stored)",
            ),
            required("hypervisor", Str, "The host's hypervisor: Simulator or KVM"),
            param(
                "hosttags",
                StringList,
                "Tags for the host (none served here)",
            ),
            param("allocationstate", Str, "Enabled or Disabled"),
        ]],
        object: "host",
        response: Host::FIELDS,
    },
    CommandSpec {
        name: "listHypervisors",
        command: Command::ListHypervisors,
        description: "Lists the hypervisors of the cloud's clusters.",
        since: "",
        is_async: false,
        related: &[],
        access: Access::Anyone,
        params: &[&[param("zoneid", Uuid, "List only hypervisors of this zone")]],
        object: "hypervisor",
        response: Hypervisor::FIELDS,
    },
    CommandSpec {
        name: "listServiceOfferings",
        command: Command::ListServiceOfferings,
        description: "Lists service offerings (instance types).",
        since: "",
        is_async: false,
        related: &[],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            &[
                param("id", Uuid, "The ID of the service offering"),
                param("name", Str, "The name of the service offering"),
            ],
        ],
        object: "serviceoffering",
        response: ServiceOffering::FIELDS,
    },
    CommandSpec {
        name: "listDiskOfferings",
        command: Command::ListDiskOfferings,
        description: "Lists disk offerings.",
        since: "",
        is_async: false,
        related: &[],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            &[
                param("id", Uuid, "The ID of the disk offering"),
                param("name", Str, "The name of the disk offering"),
            ],
        ],
        object: "diskoffering",
        response: DiskOffering::FIELDS,
    },
    CommandSpec {
        name: "listTemplates",
        command: Command::ListTemplates,
        description: "Lists templates.",
        since: "",
        is_async: false,
        related: &["listOsTypes"],
        access: Access::Anyone,
        params: &[
            TAG_PARAMS,
            LIST_PARAMS,
            &[
                required(
                    "templatefilter",
                    Str,
                    "featured, self, selfexecutable, sharedexecutable, executable, community or \
                     all (admins)",
                ),
                param("id", Uuid, "The ID of the template"),
                param("name", Str, "The name of the template"),
                param("zoneid", Uuid, "List only templates in this zone"),
                param("hypervisor", Str, "List only templates for this hypervisor"),
            ],
        ],
        object: "template",
        response: Template::FIELDS,
    },
    CommandSpec {
        name: "registerTemplate",
        command: Command::RegisterTemplate,
        description: "Registers a template: downloads a disk image from an http(s) URL into \
                      secondary storage; status goes from 'x% Downloaded' to 'Download Complete'.",
        since: "",
        is_async: false,
        related: &["listTemplates", "deleteTemplate"],
        access: Access::Anyone,
        params: &[
            KEY_OWNER,
            &[
                required("name", Str, "The name of the template"),
                param("displaytext", Str, "A description of the template"),
                required("url", Str, "The http(s) URL of the disk image"),
                required("zoneid", Uuid, "The zone the template is for"),
                required("format", Str, "The image's format: QCOW2, RAW, VHD or VMDK"),
                required(
                    "hypervisor",
                    Str,
                    "The hypervisor the template runs on: KVM",
                ),
                param("ostypeid", Uuid, "The ID of the template's OS type"),
                param(
                    "checksum",
                    Str,
                    "The image's checksum: {MD5}, {SHA-1}, {SHA-256} or {SHA-512} and the hex \
                     digest, or the bare digest",
                ),
            ],
            TEMPLATE_SHARING,
        ],
        object: "template",
        response: Template::FIELDS,
    },
    CommandSpec {
        name: "createTemplate",
        command: Command::CreateTemplate,
        description: "Creates a template from a volume snapshot, or from the root volume of a \
                      stopped virtual machine (snapshotted first); the job ends when the \
                      template is ready.",
        since: "",
        is_async: true,
        related: &["listTemplates", "queryAsyncJobResult"],
        access: Access::Anyone,
        params: &[
            &[
                required("name", Str, "The name of the template"),
                param("displaytext", Str, "A description of the template"),
                required("ostypeid", Uuid, "The ID of the template's OS type"),
                param("snapshotid", Uuid, "The snapshot to make the template from"),
                param(
                    "volumeid",
                    Uuid,
                    "The volume to make the template from (its virtual machine must be stopped)",
                ),
                param(
                    "virtualmachineid",
                    Uuid,
                    "The virtual machine of volumeid (bare-metal templates are not served)",
                ),
            ],
            TEMPLATE_SHARING,
        ],
        object: "template",
        response: Template::FIELDS,
    },
    CommandSpec {
        name: "updateTemplate",
        command: Command::UpdateTemplate,
        description: "Updates a template's name or description.",
        since: "",
        is_async: false,
        related: &["listTemplates"],
        access: Access::Anyone,
        params: &[&[
            required("id", Uuid, "The ID of the template"),
            param("name", Str, "The new name"),
            param("displaytext", Str, "The new description"),
        ]],
        object: "template",
        response: Template::FIELDS,
    },
    CommandSpec {
        name: "deleteTemplate",
        command: Command::DeleteTemplate,
        description: "Deletes a template and its image in secondary storage; instances made \
                      from it keep running.",
        since: "",
        is_async: true,
        related: &["listTemplates", "queryAsyncJobResult"],
        access: Access::Anyone,
        params: &[&[
            required("id", Uuid, "The ID of the template"),
            param("zoneid", Uuid, "The zone to delete it from (its only zone)"),
        ]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "updateTemplatePermissions",
        command: Command::UpdateTemplatePermissions,
        description: "Shares a template with accounts of its owner's domain (op add, remove \
                      or reset) or with every account (ispublic).",
        since: "",
        is_async: false,
        related: &["listTemplatePermissions", "listTemplates"],
        access: Access::Anyone,
        params: &[
            &[
                required("id", Uuid, "The ID of the template"),
                param(
                    "accounts",
                    StringList,
                    "Account names in the owner's domain, comma-separated",
                ),
                param("op", Str, "add, remove or reset"),
                param(
                    "isextractable",
                    Boolean,
                    "Accepted; templates are not downloadable",
                ),
                param("projectids", UuidList, "Projects (none exist)"),
            ],
            TEMPLATE_SHARING,
        ],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "listTemplatePermissions",
        command: Command::ListTemplatePermissions,
        description: "Lists who may use a template besides its owner.",
        since: "",
        is_async: false,
        related: &["updateTemplatePermissions"],
        access: Access::Anyone,
        params: &[&[required("id", Uuid, "The ID of the template")]],
        object: "templatepermission",
        response: TemplatePermission::FIELDS,
    },
    CommandSpec {
        name: "listIsos",
        command: Command::ListIsos,
        description: "Lists ISO images.",
        since: "",
        is_async: false,
        related: &["registerIso", "attachIso"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            &[
                param(
                    "isofilter",
                    Str,
                    "featured, self, selfexecutable (the default), sharedexecutable, executable, \
                     community or all (admins)",
                ),
                param("id", Uuid, "The ID of the ISO"),
                param("name", Str, "The name of the ISO"),
                param("zoneid", Uuid, "List only ISOs in this zone"),
                param(
                    "bootable",
                    Boolean,
                    "List only bootable (true) or other ISOs",
                ),
                param(
                    "ispublic",
                    Boolean,
                    "List only public (true) or private ISOs",
                ),
                param("isready", Boolean, "List only ready (true) or other ISOs"),
            ],
        ],
        object: "iso",
        response: Template::FIELDS,
    },
    CommandSpec {
        name: "registerIso",
        command: Command::RegisterIso,
        description: "Registers an ISO image: downloads it from an http(s) URL into secondary \
                      storage; status goes from 'x% Downloaded' to 'Download Complete'.",
        since: "",
        is_async: false,
        related: &["listIsos", "deleteIso", "attachIso"],
        access: Access::Anyone,
        params: &[
            KEY_OWNER,
            &[
                required("name", Str, "The name of the ISO"),
                param("displaytext", Str, "A description of the ISO"),
                required("url", Str, "The http(s) URL of the ISO 9660 image"),
                required("zoneid", Uuid, "The zone the ISO is for"),
                param("ostypeid", Uuid, "The ID of the ISO's OS type"),
                param(
                    "bootable",
                    Boolean,
                    "True (the default) if guests can boot from it",
                ),
                param(
                    "checksum",
                    Str,
                    "The image's checksum: {MD5}, {SHA-1}, {SHA-256} or {SHA-512} and the hex \
                     digest, or the bare digest",
                ),
                param("ispublic", Boolean, "True if every account may use the ISO"),
                param(
                    "isfeatured",
                    Boolean,
                    "True if the ISO is featured (admins)",
                ),
            ],
        ],
        object: "iso",
        response: Template::FIELDS,
    },
    CommandSpec {
        name: "updateIso",
        command: Command::UpdateIso,
        description: "Updates an ISO's name, description, OS type or bootable flag.",
        since: "",
        is_async: false,
        related: &["listIsos"],
        access: Access::Anyone,
        params: &[&[
            required("id", Uuid, "The ID of the ISO"),
            param("name", Str, "The new name"),
            param("displaytext", Str, "The new description"),
            param("ostypeid", Uuid, "The new OS type"),
            param("bootable", Boolean, "True if guests can boot from it"),
        ]],
        object: "iso",
        response: Template::FIELDS,
    },
    CommandSpec {
        name: "deleteIso",
        command: Command::DeleteIso,
        description: "Deletes an ISO and its image in secondary storage; refused while an \
                      instance has it attached.",
        since: "",
        is_async: true,
        related: &["listIsos", "queryAsyncJobResult"],
        access: Access::Anyone,
        params: &[&[
            required("id", Uuid, "The ID of the ISO"),
            param("zoneid", Uuid, "The zone to delete it from (its only zone)"),
        ]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "attachIso",
        command: Command::AttachIso,
        description: "Inserts a ready ISO into an instance's CD drive (a running guest sees it \
                      at once, a stopped one at its next start).",
        since: "",
        is_async: true,
        related: &["detachIso", "listIsos", "queryAsyncJobResult"],
        access: Access::Anyone,
        params: &[&[
            required("id", Uuid, "The ID of the ISO"),
            required("virtualmachineid", Uuid, "The ID of the instance"),
            param(
                "forced",
                Boolean,
                "Accepted for compatibility; the change is always forced",
            ),
        ]],
        object: "virtualmachine",
        response: VirtualMachine::FIELDS,
    },
    CommandSpec {
        name: "detachIso",
        command: Command::DetachIso,
        description: "Ejects the ISO from an instance's CD drive.",
        since: "",
        is_async: true,
        related: &["attachIso", "queryAsyncJobResult"],
        access: Access::Anyone,
        params: &[&[
            required("virtualmachineid", Uuid, "The ID of the instance"),
            param(
                "forced",
                Boolean,
                "Accepted for compatibility; the change is always forced",
            ),
        ]],
        object: "virtualmachine",
        response: VirtualMachine::FIELDS,
    },
    CommandSpec {
        name: "listOsTypes",
        command: Command::ListOsTypes,
        description: "Lists guest OS types.",
        since: "",
        is_async: false,
        related: &["listTemplates"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            &[
                param("id", Uuid, "The ID of the OS type"),
                param("description", Str, "The name of the OS type"),
            ],
        ],
        object: "ostype",
        response: OsType::FIELDS,
    },
    CommandSpec {
        name: "listDomains",
        command: Command::ListDomains,
        description: "Lists domains.",
        since: "",
        is_async: false,
        related: &["listAccounts"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            &[
                param("id", Uuid, "The ID of the domain"),
                param("name", Str, "The name of the domain"),
                param(
                    "listall",
                    Boolean,
                    "List the caller's domain and every domain below it",
                ),
            ],
        ],
        object: "domain",
        response: Domain::FIELDS,
    },
    CommandSpec {
        name: "listAccounts",
        command: Command::ListAccounts,
        description: "Lists accounts.",
        since: "",
        is_async: false,
        related: &["listUsers", "listDomains"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            &[
                param("id", Uuid, "The ID of the account"),
                param("name", Str, "The name of the account"),
            ],
        ],
        object: "account",
        response: Account::FIELDS,
    },
    CommandSpec {
        name: "listUsers",
        command: Command::ListUsers,
        description: "Lists users.",
        since: "",
        is_async: false,
        related: &["listAccounts", "getUser"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            &[
                param(
                    "account",
                    Str,
                    "List only users of this account (with domainid)",
                ),
                param("id", Uuid, "The ID of the user"),
                param("username", Str, "The user name"),
            ],
        ],
        object: "user",
        response: User::FIELDS,
    },
    CommandSpec {
        name: "getUser",
        command: Command::GetUser,
        description: "Finds the user an API key belongs to.",
        since: "",
        is_async: false,
        related: &["listUsers"],
        access: Access::Admins,
        params: &[&[required("userapikey", Str, "The API key of the user")]],
        object: "user",
        response: User::FIELDS,
    },
    CommandSpec {
        name: "listVirtualMachines",
        command: Command::ListVirtualMachines,
        description: "Lists virtual machines (instances).",
        since: "",
        is_async: false,
        related: &["listZones", "listTemplates", "listServiceOfferings"],
        access: Access::Anyone,
        params: &[
            TAG_PARAMS,
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            &[
                param("id", Uuid, "The ID of the instance"),
                ParamSpec {
                    since: "4.4",
                    ..param("ids", UuidList, "The IDs of the instances, comma-separated")
                },
                param("name", Str, "The name of the instance"),
                param(
                    "state",
                    Str,
                    "List only instances in this state (Running, Stopped, ...)",
                ),
                param("zoneid", Uuid, "List only instances in this zone"),
                param(
                    "templateid",
                    Uuid,
                    "List only instances made from this template",
                ),
                param(
                    "serviceofferingid",
                    Uuid,
                    "List only instances of this offering",
                ),
            ],
        ],
        object: "virtualmachine",
        response: VirtualMachine::FIELDS,
    },
    CommandSpec {
        name: "listProjects",
        command: Command::ListProjects,
        description: "Lists projects.",
        since: "3.0.0",
        is_async: false,
        related: &[],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            &[
                param(
                    "account",
                    Str,
                    "List only projects of this account (with domainid)",
                ),
                param("id", Uuid, "The ID of the project"),
                param("name", Str, "The name of the project"),
            ],
        ],
        object: "project",
        response: Project::FIELDS,
    },
    CommandSpec {
        name: "deployVirtualMachine",
        command: Command::DeployVirtualMachine,
        description: "Creates an instance and starts it, unless startvm is false.",
        since: "",
        is_async: true,
        related: VM_RELATED,
        access: Access::Anyone,
        params: &[&[
            required(
                "zoneid",
                Uuid,
                "The ID of the zone to create the instance in",
            ),
            required(
                "serviceofferingid",
                Uuid,
                "The ID of the service offering (CPU and memory)",
            ),
            required("templateid", Uuid, "The ID of the template to boot"),
            param("name", Str, "The host name of the instance"),
            param("displayname", Str, "The display name of the instance"),
            param("keypair", Str, "The name of the SSH key pair to install"),
            ParamSpec {
                since: "4.17",
                ..param(
                    "keypairs",
                    StringList,
                    "The names of SSH key pairs to install",
                )
            },
            param(
                "securitygroupids",
                UuidList,
                "The IDs of the security groups to put the instance in (not with names)",
            ),
            param(
                "securitygroupnames",
                StringList,
                "The names of the security groups to put the instance in (not with ids)",
            ),
            ParamSpec {
                length: 1_048_576,
                ..param(
                    "userdata",
                    Str,
                    "User data for the instance, base64-encoded (at most 32 KiB decoded)",
                )
            },
            param(
                "startvm",
                Boolean,
                "True (the default) to start the instance, false to leave it stopped",
            ),
            param(
                "rootdisksize",
                Long,
                "The size of the root disk in GiB, to grow it beyond the template's",
            ),
            param(
                "details",
                MapParam,
                "Instance details: details[0].key=value",
            ),
            param(
                "account",
                Str,
                "Create the instance for this account (admins; with domainid)",
            ),
            param("domainid", Uuid, "The domain of that account"),
        ]],
        object: "virtualmachine",
        response: JobSubmitted::FIELDS,
    },
    CommandSpec {
        name: "startVirtualMachine",
        command: Command::StartVirtualMachine,
        description: "Starts a stopped instance.",
        since: "",
        is_async: true,
        related: VM_RELATED,
        access: Access::Anyone,
        params: &[VM_ID],
        object: "virtualmachine",
        response: VirtualMachine::FIELDS,
    },
    CommandSpec {
        name: "stopVirtualMachine",
        command: Command::StopVirtualMachine,
        description: "Stops a running instance.",
        since: "",
        is_async: true,
        related: VM_RELATED,
        access: Access::Anyone,
        params: &[
            VM_ID,
            &[param(
                "forced",
                Boolean,
                "True to power the instance off without a graceful shutdown",
            )],
        ],
        object: "virtualmachine",
        response: VirtualMachine::FIELDS,
    },
    CommandSpec {
        name: "rebootVirtualMachine",
        command: Command::RebootVirtualMachine,
        description: "Reboots a running instance.",
        since: "",
        is_async: true,
        related: VM_RELATED,
        access: Access::Anyone,
        params: &[VM_ID],
        object: "virtualmachine",
        response: VirtualMachine::FIELDS,
    },
    CommandSpec {
        name: "destroyVirtualMachine",
        command: Command::DestroyVirtualMachine,
        description: "Destroys an instance; it stays recoverable until expunged.",
        since: "",
        is_async: true,
        related: &[
            "listVirtualMachines",
            "queryAsyncJobResult",
            "recoverVirtualMachine",
        ],
        access: Access::Anyone,
        params: &[
            VM_ID,
            &[ParamSpec {
                since: "4.2.1",
                ..param(
                    "expunge",
                    Boolean,
                    "True to expunge the instance at once instead of keeping it recoverable",
                )
            }],
        ],
        object: "virtualmachine",
        response: VirtualMachine::FIELDS,
    },
    CommandSpec {
        name: "recoverVirtualMachine",
        command: Command::RecoverVirtualMachine,
        description: "Brings a destroyed instance back, stopped.",
        since: "",
        is_async: false,
        related: &["destroyVirtualMachine"],
        access: Access::Anyone,
        params: &[VM_ID],
        object: "virtualmachine",
        response: VirtualMachine::FIELDS,
    },
    CommandSpec {
        name: "expungeVirtualMachine",
        command: Command::ExpungeVirtualMachine,
        description: "Removes a destroyed instance for good.",
        since: "",
        is_async: true,
        related: &["destroyVirtualMachine", "queryAsyncJobResult"],
        access: Access::Anyone,
        params: &[VM_ID],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "updateVirtualMachine",
        command: Command::UpdateVirtualMachine,
        description: "Changes an instance's display name, name or user data.",
        since: "",
        is_async: false,
        related: &["listVirtualMachines"],
        access: Access::Anyone,
        params: &[
            VM_ID,
            &[
                param("displayname", Str, "The new display name"),
                ParamSpec {
                    since: "4.11",
                    ..param(
                        "name",
                        Str,
                        "The new host name (the instance must be stopped)",
                    )
                },
                ParamSpec {
                    length: 1_048_576,
                    ..param("userdata", Str, "New user data, base64-encoded")
                },
                param(
                    "haenable",
                    Boolean,
                    "True to restart the instance on host failure",
                ),
            ],
        ],
        object: "virtualmachine",
        response: VirtualMachine::FIELDS,
    },
    CommandSpec {
        name: "changeServiceForVirtualMachine",
        command: Command::ChangeServiceForVirtualMachine,
        description: "Changes the service offering of a stopped instance.",
        since: "",
        is_async: false,
        related: &["listVirtualMachines", "listServiceOfferings"],
        access: Access::Anyone,
        params: &[
            VM_ID,
            &[required(
                "serviceofferingid",
                Uuid,
                "The ID of the new service offering",
            )],
        ],
        object: "virtualmachine",
        response: VirtualMachine::FIELDS,
    },
    CommandSpec {
        name: "resetSSHKeyForVirtualMachine",
        command: Command::ResetSshKeyForVirtualMachine,
        description: "Gives a stopped instance another SSH key pair, delivered at its next start.",
        since: "",
        is_async: true,
        related: &[
            "listVirtualMachines",
            "listSSHKeyPairs",
            "queryAsyncJobResult",
        ],
        access: Access::Anyone,
        params: &[
            VM_ID,
            &[
                param("keypair", Str, "The name of the new key pair"),
                ParamSpec {
                    since: "4.17",
                    ..param("keypairs", StringList, "The names of the new key pairs")
                },
                param(
                    "account",
                    Str,
                    "The account of the key pair (admins; with domainid)",
                ),
                param("domainid", Uuid, "The domain of that account"),
                param("projectid", Uuid, "The project of the key pair (none here)"),
            ],
        ],
        object: "virtualmachine",
        response: VirtualMachine::FIELDS,
    },
    CommandSpec {
        name: "queryAsyncJobResult",
        command: Command::QueryAsyncJobResult,
        description: "Tells where an asynchronous job is, and its result once it ended.",
        since: "",
        is_async: false,
        related: &["listAsyncJobs"],
        access: Access::Anyone,
        params: &[&[required("jobid", Uuid, "The ID of the job")]],
        object: "",
        response: AsyncJob::FIELDS,
    },
    CommandSpec {
        name: "listAsyncJobs",
        command: Command::ListAsyncJobs,
        description: "Lists asynchronous jobs.",
        since: "",
        is_async: false,
        related: &["queryAsyncJobResult"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            &[
                param(
                    "account",
                    Str,
                    "List only jobs of this account (with domainid)",
                ),
                param(
                    "startdate",
                    Str,
                    "List only jobs submitted from this date: yyyy-MM-dd or yyyy-MM-dd HH:mm:ss",
                ),
            ],
        ],
        object: "asyncjobs",
        response: AsyncJob::FIELDS,
    },
    CommandSpec {
        name: "listEvents",
        command: Command::ListEvents,
        description: "Lists events of the event log, newest first.",
        since: "",
        is_async: false,
        related: &[],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            DATE_PARAMS,
            &[
                param("id", Uuid, "The ID of the event"),
                param(
                    "type",
                    Str,
                    "List only events of this type (VM.CREATE, ...)",
                ),
                param(
                    "level",
                    Str,
                    "List only events of this level (INFO, WARN, ERROR)",
                ),
            ],
        ],
        object: "event",
        response: Event::FIELDS,
    },
    CommandSpec {
        name: "listPublicIpAddresses",
        command: Command::ListPublicIpAddresses,
        description: "Lists public IP addresses.",
        since: "",
        is_async: false,
        related: &[],
        access: Access::Anyone,
        params: &[
            TAG_PARAMS,
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            &[
                param("id", Uuid, "The ID of the address"),
                param("zoneid", Uuid, "List only addresses of this zone"),
                param("ipaddress", Str, "List only this address"),
                param(
                    "allocatedonly",
                    Boolean,
                    "True (the default) to list only allocated addresses",
                ),
                param(
                    "associatednetworkid",
                    Uuid,
                    "List only addresses of this network",
                ),
                param("vpcid", Uuid, "List only addresses of this VPC"),
                param("isstaticnat", Boolean, "List only static NAT addresses"),
                param("issourcenat", Boolean, "List only source NAT addresses"),
            ],
        ],
        object: "publicipaddress",
        response: PublicIpAddress::FIELDS,
    },
    CommandSpec {
        name: "listPortForwardingRules",
        command: Command::ListPortForwardingRules,
        description: "Lists port forwarding rules of public IP addresses.",
        since: "",
        is_async: false,
        related: &["listPublicIpAddresses"],
        access: Access::Anyone,
        params: &[
            TAG_PARAMS,
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            FORWARDING_PARAMS,
        ],
        object: "portforwardingrule",
        response: ForwardingRule::FIELDS,
    },
    CommandSpec {
        name: "listIpForwardingRules",
        command: Command::ListIpForwardingRules,
        description: "Lists static NAT (IP forwarding) rules.",
        since: "",
        is_async: false,
        related: &["listPublicIpAddresses"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            FORWARDING_PARAMS,
        ],
        object: "ipforwardingrule",
        response: ForwardingRule::FIELDS,
    },
    CommandSpec {
        name: "createServiceOffering",
        command: Command::CreateServiceOffering,
        description: "Creates a service offering (an instance type) for every domain.",
        since: "",
        is_async: false,
        related: &["listServiceOfferings"],
        access: Access::RootAdmin,
        params: &[&[
            required("name", Str, "The name of the offering, unique"),
            param("displaytext", Str, "A description of the offering"),
            required("cpunumber", Integer, "The number of vCPUs"),
            param(
                "cpuspeed",
                Integer,
                "The clock rate of each vCPU in MHz (default 2000)",
            ),
            required("memory", Integer, "The memory in MiB"),
        ]],
        object: "serviceoffering",
        response: ServiceOffering::FIELDS,
    },
    CommandSpec {
        name: "updateServiceOffering",
        command: Command::UpdateServiceOffering,
        description: "Renames a service offering or changes its description.",
        since: "",
        is_async: false,
        related: &["listServiceOfferings"],
        access: Access::RootAdmin,
        params: &[&[
            required("id", Uuid, "The ID of the offering"),
            param("name", Str, "The new name"),
            param("displaytext", Str, "The new description"),
        ]],
        object: "serviceoffering",
        response: ServiceOffering::FIELDS,
    },
    CommandSpec {
        name: "deleteServiceOffering",
        command: Command::DeleteServiceOffering,
        description: "Deletes a service offering that no instance uses.",
        since: "",
        is_async: false,
        related: &["listServiceOfferings"],
        access: Access::RootAdmin,
        params: &[&[required("id", Uuid, "The ID of the offering")]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "createDiskOffering",
        command: Command::CreateDiskOffering,
        description: "Creates a disk offering for every domain.",
        since: "",
        is_async: false,
        related: &["listDiskOfferings"],
        access: Access::RootAdmin,
        params: &[&[
            required("name", Str, "The name of the offering, unique"),
            param("displaytext", Str, "A description of the offering"),
            param("disksize", Long, "The size of the disk in GiB"),
            param(
                "customized",
                Boolean,
                "True if the size is chosen per volume",
            ),
        ]],
        object: "diskoffering",
        response: DiskOffering::FIELDS,
    },
    CommandSpec {
        name: "deleteDiskOffering",
        command: Command::DeleteDiskOffering,
        description: "Deletes a disk offering.",
        since: "",
        is_async: false,
        related: &["listDiskOfferings"],
        access: Access::RootAdmin,
        params: &[&[required("id", Uuid, "The ID of the offering")]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "createDomain",
        command: Command::CreateDomain,
        description: "Creates a domain below the caller's domain, or below parentdomainid.",
        since: "",
        is_async: false,
        related: &["listDomains"],
        access: Access::Admins,
        params: &[&[
            required("name", Str, "The name of the domain"),
            param(
                "parentdomainid",
                Uuid,
                "The parent domain (default: the caller's)",
            ),
        ]],
        object: "domain",
        response: Domain::FIELDS,
    },
    CommandSpec {
        name: "updateDomain",
        command: Command::UpdateDomain,
        description: "Renames a domain.",
        since: "",
        is_async: false,
        related: &["listDomains"],
        access: Access::Admins,
        params: &[&[
            required("id", Uuid, "The ID of the domain"),
            param("name", Str, "The new name"),
        ]],
        object: "domain",
        response: Domain::FIELDS,
    },
    CommandSpec {
        name: "deleteDomain",
        command: Command::DeleteDomain,
        description: "Deletes a domain that holds no domains and no accounts.",
        since: "",
        is_async: true,
        related: &["listDomains", "queryAsyncJobResult"],
        access: Access::Admins,
        params: &[&[
            required("id", Uuid, "The ID of the domain"),
            param(
                "cleanup",
                Boolean,
                "True to delete what the domain holds too (not served: must be false)",
            ),
        ]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "createAccount",
        command: Command::CreateAccount,
        description: "Creates an account and its first user.",
        since: "",
        is_async: false,
        related: &["listAccounts", "createUser"],
        access: Access::Admins,
        params: &[
            NEW_USER,
            &[
                param(
                    "account",
                    Str,
                    "The name of the account (default: the user name)",
                ),
                param(
                    "accounttype",
                    Integer,
                    "0 user (the default), 1 root admin, 2 domain admin",
                ),
                param(
                    "roletype",
                    Str,
                    "User, Admin or DomainAdmin, if accounttype is absent",
                ),
                param(
                    "domainid",
                    Uuid,
                    "The domain of the account (default: the caller's)",
                ),
            ],
        ],
        object: "account",
        response: Account::FIELDS,
    },
    CommandSpec {
        name: "updateAccount",
        command: Command::UpdateAccount,
        description: "Renames an account.",
        since: "",
        is_async: false,
        related: &["listAccounts"],
        access: Access::Admins,
        params: &[
            ACCOUNT_REF,
            &[param("newname", Str, "The new name of the account")],
        ],
        object: "account",
        response: Account::FIELDS,
    },
    CommandSpec {
        name: "deleteAccount",
        command: Command::DeleteAccount,
        description: "Deletes an account that owns no instances or templates, with its users.",
        since: "",
        is_async: true,
        related: &["listAccounts", "queryAsyncJobResult"],
        access: Access::Admins,
        params: &[&[required("id", Uuid, "The ID of the account")]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "disableAccount",
        command: Command::DisableAccount,
        description: "Disables (or locks) an account: its keys and sessions stop working.",
        since: "",
        is_async: true,
        related: &["enableAccount", "queryAsyncJobResult"],
        access: Access::Admins,
        params: &[
            ACCOUNT_REF,
            &[required(
                "lock",
                Boolean,
                "True to lock the account rather than disable it",
            )],
        ],
        object: "account",
        response: Account::FIELDS,
    },
    CommandSpec {
        name: "enableAccount",
        command: Command::EnableAccount,
        description: "Enables a disabled or locked account.",
        since: "",
        is_async: false,
        related: &["disableAccount"],
        access: Access::Admins,
        params: &[ACCOUNT_REF],
        object: "account",
        response: Account::FIELDS,
    },
    CommandSpec {
        name: "createUser",
        command: Command::CreateUser,
        description: "Creates a user in an account.",
        since: "",
        is_async: false,
        related: &["listUsers"],
        access: Access::Admins,
        params: &[
            NEW_USER,
            &[
                required("account", Str, "The account of the user"),
                param(
                    "domainid",
                    Uuid,
                    "The domain of the account (default: the caller's)",
                ),
            ],
        ],
        object: "user",
        response: User::FIELDS,
    },
    CommandSpec {
        name: "updateUser",
        command: Command::UpdateUser,
        description: "Changes a user's names, e-mail address or password.",
        since: "",
        is_async: false,
        related: &["listUsers"],
        access: Access::Anyone,
        params: &[&[
            required("id", Uuid, "The ID of the user"),
            param("username", Str, "The new user name"),
            param(
                "password",
                Str,
                "The new password, in clear text (use HTTPS)",
            ),
            param("email", Str, "The new e-mail address"),
            param("firstname", Str, "The new first name"),
            param("lastname", Str, "The new last name"),
        ]],
        object: "user",
        response: User::FIELDS,
    },
    CommandSpec {
        name: "deleteUser",
        command: Command::DeleteUser,
        description: "Deletes a user with its keys and sessions.",
        since: "",
        is_async: false,
        related: &["listUsers"],
        access: Access::Admins,
        params: &[&[required("id", Uuid, "The ID of the user")]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "registerUserKeys",
        command: Command::RegisterUserKeys,
        description: "Replaces a user's API keys with a new pair.",
        since: "",
        is_async: false,
        related: &["getUserKeys"],
        access: Access::Anyone,
        params: &[&[required("id", Uuid, "The ID of the user")]],
        object: "userkeys",
        response: UserKeys::FIELDS,
    },
    CommandSpec {
        name: "getUserKeys",
        command: Command::GetUserKeys,
        description: "Shows a user's API keys: to the user itself or an admin over it.",
        since: "4.10.0",
        is_async: false,
        related: &["registerUserKeys"],
        access: Access::Anyone,
        params: &[&[required("id", Uuid, "The ID of the user")]],
        object: "userkeys",
        response: UserKeys::FIELDS,
    },
    CommandSpec {
        name: "createSSHKeyPair",
        command: Command::CreateSshKeyPair,
        description: "Makes an SSH key pair; the private key is in this reply only.",
        since: "",
        is_async: false,
        related: &["listSSHKeyPairs"],
        access: Access::Anyone,
        params: &[
            &[required("name", Str, "The name of the key pair")],
            KEY_OWNER,
        ],
        object: "keypair",
        response: SshKeyPair::FIELDS,
    },
    CommandSpec {
        name: "registerSSHKeyPair",
        command: Command::RegisterSshKeyPair,
        description: "Registers an OpenSSH public key as a key pair.",
        since: "",
        is_async: false,
        related: &["listSSHKeyPairs"],
        access: Access::Anyone,
        params: &[
            &[
                required("name", Str, "The name of the key pair"),
                ParamSpec {
                    length: 5120,
                    ..required("publickey", Str, "The OpenSSH public key (ssh-rsa AAAA...)")
                },
            ],
            KEY_OWNER,
        ],
        object: "keypair",
        response: SshKeyPair::FIELDS,
    },
    CommandSpec {
        name: "listSSHKeyPairs",
        command: Command::ListSshKeyPairs,
        description: "Lists SSH key pairs.",
        since: "",
        is_async: false,
        related: &["createSSHKeyPair", "registerSSHKeyPair"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            &[
                param("name", Str, "List only the key pair of this name"),
                param(
                    "fingerprint",
                    Str,
                    "List only key pairs with this fingerprint",
                ),
            ],
        ],
        object: "sshkeypair",
        response: SshKeyPair::FIELDS,
    },
    CommandSpec {
        name: "listVolumes",
        command: Command::ListVolumes,
        description: "Lists volumes: instances' root disks and data disks.",
        since: "",
        is_async: false,
        related: &["listVirtualMachines", "listSnapshots"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            &[
                param("id", Uuid, "List only the volume of this ID"),
                param("name", Str, "List only volumes of this name"),
                param("zoneid", Uuid, "List only volumes of this zone"),
                param(
                    "virtualmachineid",
                    Uuid,
                    "List only the volumes of this instance",
                ),
                param("type", Str, "List only ROOT or only DATADISK volumes"),
            ],
        ],
        object: "volume",
        response: crate::volumes::Volume::FIELDS,
    },
    CommandSpec {
        name: "listSnapshots",
        command: Command::ListSnapshots,
        description: "Lists volume snapshots.",
        since: "",
        is_async: false,
        related: &["listVolumes"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            &[
                param("id", Uuid, "List only the snapshot of this ID"),
                param("name", Str, "List only snapshots of this name"),
                param("zoneid", Uuid, "List only snapshots of this zone"),
                param("volumeid", Uuid, "List only the snapshots of this volume"),
            ],
        ],
        object: "snapshot",
        response: crate::volumes::Snapshot::FIELDS,
    },
    CommandSpec {
        name: "createVolume",
        command: Command::CreateVolume,
        description: "Creates a data volume from a disk offering or a snapshot, attached at once \
                      to an instance when one is given.",
        since: "",
        is_async: true,
        related: VOLUME_RELATED,
        access: Access::Anyone,
        params: &[&[
            param("name", Str, "The name of the volume"),
            param(
                "zoneid",
                Uuid,
                "The zone of the volume (default: the snapshot's or the instance's)",
            ),
            param(
                "diskofferingid",
                Uuid,
                "The disk offering; either it or snapshotid must be given",
            ),
            param("size", Long, "The size in GB, for a custom disk offering"),
            param(
                "snapshotid",
                Uuid,
                "The snapshot to make the volume from; either it or diskofferingid must be given",
            ),
            param(
                "virtualmachineid",
                Uuid,
                "The instance to attach the new volume to",
            ),
            param(
                "account",
                Str,
                "The account to own the volume (with domainid; admins)",
            ),
            param("domainid", Uuid, "The domain of that account"),
        ]],
        object: "volume",
        response: crate::volumes::Volume::FIELDS,
    },
    CommandSpec {
        name: "attachVolume",
        command: Command::AttachVolume,
        description: "Attaches a data volume to an instance.",
        since: "",
        is_async: true,
        related: VOLUME_RELATED,
        access: Access::Anyone,
        params: &[&[
            required("id", Uuid, "The ID of the volume"),
            required("virtualmachineid", Uuid, "The ID of the instance"),
            param(
                "deviceid",
                Long,
                "The device number: 1, 2 or 4 to 25 (default: the lowest free one)",
            ),
        ]],
        object: "volume",
        response: crate::volumes::Volume::FIELDS,
    },
    CommandSpec {
        name: "detachVolume",
        command: Command::DetachVolume,
        description: "Detaches a data volume from its instance.",
        since: "",
        is_async: true,
        related: VOLUME_RELATED,
        access: Access::Anyone,
        params: &[&[
            param("id", Uuid, "The ID of the volume"),
            param(
                "virtualmachineid",
                Uuid,
                "The instance to detach from (with deviceid, instead of id)",
            ),
            param(
                "deviceid",
                Long,
                "The device number on that instance (with virtualmachineid)",
            ),
        ]],
        object: "volume",
        response: crate::volumes::Volume::FIELDS,
    },
    CommandSpec {
        name: "resizeVolume",
        command: Command::ResizeVolume,
        description: "Grows a volume to a new size or to the size of another disk offering.",
        since: "",
        is_async: true,
        related: VOLUME_RELATED,
        access: Access::Anyone,
        params: &[&[
            required("id", Uuid, "The ID of the volume"),
            param("size", Long, "The new size in GB"),
            param(
                "diskofferingid",
                Uuid,
                "A disk offering whose size the volume takes",
            ),
            param(
                "shrinkok",
                Boolean,
                "True to allow shrinking (volumes only grow here)",
            ),
        ]],
        object: "volume",
        response: crate::volumes::Volume::FIELDS,
    },
    CommandSpec {
        name: "deleteVolume",
        command: Command::DeleteVolume,
        description: "Deletes a detached data volume.",
        since: "",
        is_async: false,
        related: VOLUME_RELATED,
        access: Access::Anyone,
        params: &[&[required("id", Uuid, "The ID of the volume")]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "createSnapshot",
        command: Command::CreateSnapshot,
        description: "Takes a snapshot of a volume into secondary storage.",
        since: "",
        is_async: true,
        related: &["listSnapshots", "deleteSnapshot", "queryAsyncJobResult"],
        access: Access::Anyone,
        params: &[&[
            required("volumeid", Uuid, "The ID of the volume"),
            param("name", Str, "The name of the snapshot"),
        ]],
        object: "snapshot",
        response: crate::volumes::Snapshot::FIELDS,
    },
    CommandSpec {
        name: "deleteSnapshot",
        command: Command::DeleteSnapshot,
        description: "Deletes a snapshot and its bytes in secondary storage.",
        since: "",
        is_async: true,
        related: &["listSnapshots", "createSnapshot", "queryAsyncJobResult"],
        access: Access::Anyone,
        params: &[&[required("id", Uuid, "The ID of the snapshot")]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "deleteSSHKeyPair",
        command: Command::DeleteSshKeyPair,
        description: "Deletes an SSH key pair; instances made with it keep their key.",
        since: "",
        is_async: false,
        related: &["listSSHKeyPairs"],
        access: Access::Anyone,
        params: &[
            &[required("name", Str, "The name of the key pair")],
            KEY_OWNER,
        ],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "createTags",
        command: Command::CreateTags,
        description: "Tags resources: UserVm, Template, Network, Vpc or SecurityGroup.",
        since: "4.0.0",
        is_async: true,
        related: &["listTags", "deleteTags", "queryAsyncJobResult"],
        access: Access::Anyone,
        params: &[&[
            required(
                "resourceids",
                StringList,
                "The IDs of the resources, comma-separated",
            ),
            required(
                "resourcetype",
                Str,
                "The type of the resources: UserVm, Template, Network, Vpc or SecurityGroup",
            ),
            required("tags", MapParam, "The tags: tags[0].key=k&tags[0].value=v"),
            param("customer", Str, "Who the tags are for (not used)"),
        ]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "deleteTags",
        command: Command::DeleteTags,
        description: "Removes tags from resources: the keys given, or every tag.",
        since: "4.0.0",
        is_async: true,
        related: &["listTags", "createTags", "queryAsyncJobResult"],
        access: Access::Anyone,
        params: &[&[
            required(
                "resourceids",
                StringList,
                "The IDs of the resources, comma-separated",
            ),
            required("resourcetype", Str, "The type of the resources"),
            param(
                "tags",
                MapParam,
                "The tags to remove: tags[0].key=k (and tags[0].value=v to match a value)",
            ),
        ]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "listTags",
        command: Command::ListTags,
        description: "Lists resource tags.",
        since: "4.0.0",
        is_async: false,
        related: &["createTags"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            &[
                param("resourceid", Str, "List only tags of this resource"),
                param(
                    "resourcetype",
                    Str,
                    "List only tags of this type of resource",
                ),
                param("key", Str, "List only tags of this key"),
                param("value", Str, "List only tags of this value"),
            ],
        ],
        object: "tag",
        response: Tag::FIELDS,
    },
    CommandSpec {
        name: "listNetworks",
        command: Command::ListNetworks,
        description: "Lists guest networks: each account's default network per zone and VPC tiers.",
        since: "",
        is_async: false,
        related: &["listVPCs", "listNics"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            &[
                param("id", Uuid, "The ID of the network"),
                param("zoneid", Uuid, "List only networks of this zone"),
                param("vpcid", Uuid, "List only tiers of this VPC"),
            ],
        ],
        object: "network",
        response: Network::FIELDS,
    },
    CommandSpec {
        name: "listVPCs",
        command: Command::ListVpcs,
        description: "Lists VPCs.",
        since: "4.0.0",
        is_async: false,
        related: &["listNetworks"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            &[param("id", Uuid, "The ID of the VPC")],
        ],
        object: "vpc",
        response: VpcInfo::FIELDS,
    },
    CommandSpec {
        name: "listNics",
        command: Command::ListNics,
        description: "Lists the NICs of an instance.",
        since: "4.2.0",
        is_async: false,
        related: &["listVirtualMachines", "listNetworks"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            &[
                required("virtualmachineid", Uuid, "The ID of the instance"),
                param("nicid", Uuid, "The ID of one NIC"),
            ],
        ],
        object: "nic",
        response: Nic::FIELDS,
    },
    CommandSpec {
        name: "associateIpAddress",
        command: Command::AssociateIpAddress,
        description: "Acquires a public IP address from a zone's public range, for a network, \
                      a VPC or a zone.",
        since: "",
        is_async: true,
        related: &[
            "listPublicIpAddresses",
            "disassociateIpAddress",
            "enableStaticNat",
        ],
        access: Access::Anyone,
        params: &[&[
            param("zoneid", Uuid, "The zone to acquire the address in"),
            param("networkid", Uuid, "The network the address is for"),
            param("vpcid", Uuid, "The VPC the address is for"),
            param("account", Str, "The account to acquire for (with domainid)"),
            param("domainid", Uuid, "The domain of that account"),
            param("projectid", Uuid, "The project to acquire for (none here)"),
            param(
                "isportable",
                Boolean,
                "True for a portable address (not served)",
            ),
            param(
                "fordisplay",
                Boolean,
                "True to show the address to the end user",
            ),
            param("ipaddress", Str, "A chosen address (not served)"),
            param(
                "regionid",
                Integer,
                "The region of a portable address (not served)",
            ),
        ]],
        object: "ipaddress",
        response: PublicIpAddress::FIELDS,
    },
    CommandSpec {
        name: "disassociateIpAddress",
        command: Command::DisassociateIpAddress,
        description: "Releases a public IP address, ending its static NAT first.",
        since: "",
        is_async: true,
        related: &["associateIpAddress", "listPublicIpAddresses"],
        access: Access::Anyone,
        params: &[&[required("id", Uuid, "The ID of the address")]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "enableStaticNat",
        command: Command::EnableStaticNat,
        description: "Maps a public IP address one to one to an instance's private address.",
        since: "",
        is_async: false,
        related: &["disableStaticNat", "listPublicIpAddresses"],
        access: Access::Anyone,
        params: &[&[
            required("ipaddressid", Uuid, "The ID of the public address"),
            required("virtualmachineid", Uuid, "The ID of the instance"),
            param(
                "networkid",
                Uuid,
                "The network of the instance's NIC to map to",
            ),
            param("vmguestip", Str, "The instance's private address to map to"),
        ]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "disableStaticNat",
        command: Command::DisableStaticNat,
        description: "Ends the static NAT of a public IP address; the address stays acquired.",
        since: "",
        is_async: true,
        related: &["enableStaticNat", "listPublicIpAddresses"],
        access: Access::Anyone,
        params: &[&[required(
            "ipaddressid",
            Uuid,
            "The ID of the public address",
        )]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "createSecurityGroup",
        command: Command::CreateSecurityGroup,
        description: "Creates a security group in the account's default VPC; it admits no \
                      inbound traffic and all outbound traffic.",
        since: "",
        is_async: false,
        related: &["listSecurityGroups", "authorizeSecurityGroupIngress"],
        access: Access::Anyone,
        params: &[&[
            required("name", Str, "The name of the group"),
            param("description", Str, "The description of the group"),
            param("account", Str, "The account to create for (with domainid)"),
            param("domainid", Uuid, "The domain of that account"),
            param("projectid", Uuid, "The project to create for (none here)"),
        ]],
        object: "securitygroup",
        response: SecurityGroup::FIELDS,
    },
    CommandSpec {
        name: "listSecurityGroups",
        command: Command::ListSecurityGroups,
        description: "Lists security groups with their rules.",
        since: "",
        is_async: false,
        related: &["createSecurityGroup"],
        access: Access::Anyone,
        params: &[
            TAG_PARAMS,
            LIST_PARAMS,
            DOMAIN_SCOPE_PARAMS,
            ACCOUNT_SCOPE_PARAMS,
            &[
                param("id", Uuid, "The ID of the group"),
                param("securitygroupname", Str, "The name of the group"),
                param(
                    "virtualmachineid",
                    Uuid,
                    "List only the groups of this instance",
                ),
            ],
        ],
        object: "securitygroup",
        response: SecurityGroup::FIELDS,
    },
    CommandSpec {
        name: "deleteSecurityGroup",
        command: Command::DeleteSecurityGroup,
        description: "Deletes a security group no instance is in.",
        since: "",
        is_async: false,
        related: &["createSecurityGroup"],
        access: Access::Anyone,
        params: &[&[
            param("id", Uuid, "The ID of the group"),
            param("name", Str, "The name of the group"),
            param("account", Str, "The account of the group (with domainid)"),
            param("domainid", Uuid, "The domain of that account"),
            param("projectid", Uuid, "The project of the group (none here)"),
        ]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "authorizeSecurityGroupIngress",
        command: Command::AuthorizeSecurityGroupIngress,
        description: "Adds ingress rules to a security group.",
        since: "",
        is_async: true,
        related: &["revokeSecurityGroupIngress", "listSecurityGroups"],
        access: Access::Anyone,
        params: RULE_PARAMS,
        object: "securitygroup",
        response: SecurityGroup::FIELDS,
    },
    CommandSpec {
        name: "authorizeSecurityGroupEgress",
        command: Command::AuthorizeSecurityGroupEgress,
        description: "Adds egress rules to a security group.",
        since: "3.0.0",
        is_async: true,
        related: &["revokeSecurityGroupEgress", "listSecurityGroups"],
        access: Access::Anyone,
        params: RULE_PARAMS,
        object: "securitygroup",
        response: SecurityGroup::FIELDS,
    },
    CommandSpec {
        name: "revokeSecurityGroupIngress",
        command: Command::RevokeSecurityGroupIngress,
        description: "Removes an ingress rule from its security group.",
        since: "",
        is_async: true,
        related: &["authorizeSecurityGroupIngress"],
        access: Access::Anyone,
        params: &[&[required("id", Uuid, "The ID of the rule")]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "revokeSecurityGroupEgress",
        command: Command::RevokeSecurityGroupEgress,
        description: "Removes an egress rule from its security group.",
        since: "3.0.0",
        is_async: true,
        related: &["authorizeSecurityGroupEgress"],
        access: Access::Anyone,
        params: &[&[required("id", Uuid, "The ID of the rule")]],
        object: "",
        response: Success::FIELDS,
    },
    CommandSpec {
        name: "listNetworkOfferings",
        command: Command::ListNetworkOfferings,
        description: "Lists the network offerings: what the guest networks served here provide.",
        since: "",
        is_async: false,
        related: &["listNetworks"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            &[
                param("id", Uuid, "The ID of the offering"),
                param("name", Str, "The name of the offering"),
                param(
                    "forvpc",
                    Boolean,
                    "List only offerings of VPC tiers (or not)",
                ),
                param("guestiptype", Str, "List only offerings of this guest type"),
                param(
                    "traffictype",
                    Str,
                    "List only offerings of this traffic type",
                ),
                param("state", Str, "List only offerings in this state"),
                param("isdefault", Boolean, "List only default offerings (or not)"),
                param("zoneid", Uuid, "List only offerings available in this zone"),
            ],
        ],
        object: "networkoffering",
        response: NetworkOffering::FIELDS,
    },
    CommandSpec {
        name: "listVPCOfferings",
        command: Command::ListVpcOfferings,
        description: "Lists the VPC offerings: what the VPCs served here provide.",
        since: "4.0.0",
        is_async: false,
        related: &["listVPCs"],
        access: Access::Anyone,
        params: &[
            LIST_PARAMS,
            &[
                param("id", Uuid, "The ID of the offering"),
                param("name", Str, "The name of the offering"),
                param(
                    "isdefault",
                    Boolean,
                    "List only the default offering (or not)",
                ),
                param("state", Str, "List only offerings in this state"),
                param("zoneid", Uuid, "List only offerings available in this zone"),
            ],
        ],
        object: "vpcoffering",
        response: VpcOffering::FIELDS,
    },
];

/// The served command of this exact (case-sensitive) name.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// True if CloudStack has an API of this exact name.
pub fn is_cloudstack_api(name: &str) -> bool {
    static NAMES: OnceLock<HashSet<&'static str>> = OnceLock::new();
    NAMES
        .get_or_init(|| {
            include_str!("../data/cloudstack-apis.txt")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect()
        })
        .contains(name)
}

fn fields_json(fields: &[FieldSpec]) -> Vec<Value> {
    fields
        .iter()
        .map(|f| {
            let mut o = Map::new();
            o.insert("name".into(), json!(f.name));
            o.insert("description".into(), json!(f.description));
            o.insert("type".into(), json!(f.kind));
            if !f.children.is_empty() {
                o.insert("response".into(), Value::Array(fields_json(f.children)));
            }
            Value::Object(o)
        })
        .collect()
}

/// One entry of `listApis`: the shape cmk and cloudmonkey read, with JSON types they assert.
pub fn api_json(spec: &CommandSpec) -> Value {
    let params: Vec<Value> = spec
        .params()
        .map(|p| {
            let mut o = Map::new();
            o.insert("name".into(), json!(p.name));
            o.insert("description".into(), json!(p.description));
            o.insert("type".into(), json!(p.kind.as_str()));
            o.insert("length".into(), json!(p.length));
            o.insert("required".into(), json!(p.required));
            if !p.since.is_empty() {
                o.insert("since".into(), json!(p.since));
            }
            Value::Object(o)
        })
        .collect();
    let mut o = Map::new();
    o.insert("name".into(), json!(spec.name));
    o.insert("description".into(), json!(spec.description));
    o.insert("isasync".into(), json!(spec.is_async));
    if !spec.since.is_empty() {
        o.insert("since".into(), json!(spec.since));
    }
    if !spec.related.is_empty() {
        o.insert("related".into(), json!(spec.related.join(",")));
    }
    o.insert("params".into(), Value::Array(params));
    o.insert("response".into(), Value::Array(fields_json(spec.response)));
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_real() {
        let mut seen = HashSet::new();
        for spec in COMMANDS {
            assert!(seen.insert(spec.name), "{} twice", spec.name);
            assert!(
                is_cloudstack_api(spec.name),
                "{} is not a CloudStack API",
                spec.name
            );
            assert_eq!(find(spec.name).map(|s| s.command), Some(spec.command));
            for related in spec.related {
                assert!(
                    find(related).is_some(),
                    "{} relates to unserved {related}",
                    spec.name
                );
            }
        }
        assert!(
            find("listzones").is_none(),
            "command names are case-sensitive"
        );
    }

    #[test]
    fn params_are_unique_and_lowercase_where_cloudstack_reads_them() {
        for spec in COMMANDS {
            let mut seen = HashSet::new();
            for p in spec.params() {
                assert!(
                    seen.insert(p.name.to_lowercase()),
                    "{}: {} twice",
                    spec.name,
                    p.name
                );
            }
        }
    }

    #[test]
    fn the_known_api_list_is_cloudstacks() {
        for name in [
            "deployVirtualMachine",
            "createTags",
            "queryAsyncJobResult",
            "listVolumes",
        ] {
            assert!(is_cloudstack_api(name), "{name}");
        }
        for name in ["listzones", "DescribeInstances", "", "# Every"] {
            assert!(!is_cloudstack_api(name), "{name}");
        }
        let count = include_str!("../data/cloudstack-apis.txt")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count();
        assert!(count > 800, "{count}");
    }

    /// cmk panics unless these JSON types hold (cmk/config/cache.go).
    #[test]
    fn list_apis_types_are_what_cmk_asserts() {
        for spec in COMMANDS {
            let api = api_json(spec);
            assert!(api["name"].is_string() && api["description"].is_string());
            assert!(api["isasync"].is_boolean());
            assert!(api.get("related").is_none_or(Value::is_string));
            let params = api["params"].as_array().cloned().unwrap_or_default();
            assert_eq!(params.len(), spec.params().count());
            for p in params {
                assert!(p["name"].is_string() && p["type"].is_string());
                assert!(p["description"].is_string());
                assert!(p["required"].is_boolean());
                assert!(p["length"].is_u64(), "cloudmonkey does int(length)");
            }
            assert!(api["response"].is_array());
        }
    }

    #[test]
    fn access() {
        assert!(Access::Anyone.allows(Role::User));
        assert!(!Access::Admins.allows(Role::User));
        assert!(Access::Admins.allows(Role::DomainAdmin));
        assert!(!Access::RootAdmin.allows(Role::DomainAdmin));
        assert!(Access::RootAdmin.allows(Role::RootAdmin));
    }
}
