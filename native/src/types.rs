//! The response objects the native door sends, with CloudStack's field names and JSON types
//! (numbers and booleans are real JSON numbers and booleans, dates are CloudStack dates). Each
//! is declared once with [`wire_object!`], which also gives `listApis` its field list. The
//! port fills them; only the door knows how they are spelled on the wire.

use crate::wire::Timestamp;
use crate::wire_object;

mod access;
pub use access::*;

wire_object! {
    /// A resource tag, as carried inside other objects.
    pub struct Tag {
        key: String = "string", "the tag key";
        value: String = "string", "the tag value";
        resourcetype: String = "string", "the type of the tagged resource";
        resourceid: String = "string", "the ID of the tagged resource";
        account: String = "string", "the account owning the tag";
        domainid: String = "string", "the ID of the domain of the tag's account";
        domain: String = "string", "the domain of the tag's account";
    }
}

wire_object! {
    /// A zone (an EC2 availability zone).
    pub struct Zone {
        id: String = "string", "the ID of the zone";
        name: String = "string", "the name of the zone";
        description: Option<String> = "string", "what the zone is for";
        allocationstate: String = "string", "Enabled when new resources may be placed in the zone";
        networktype: String = "string", "Basic or Advanced networking";
        securitygroupsenabled: bool = "boolean", "true if security groups filter guest traffic";
        localstorageenabled: bool = "boolean", "true if local storage may hold volumes";
        dhcpprovider: String = "string", "what serves DHCP to guests";
        r#type as "type": String = "string", "Core or Edge";
        tags: Vec<Tag> = "list", "the tags of the zone";
    }
}

wire_object! {
    /// A pod of a zone.
    pub struct Pod {
        id: String = "string", "the ID of the pod";
        name: String = "string", "the name of the pod";
        zoneid: String = "string", "the ID of the pod's zone";
        zonename: String = "string", "the name of the pod's zone";
        allocationstate: String = "string", "Enabled when new resources may be placed in the pod";
    }
}

wire_object! {
    /// A cluster of hosts of one hypervisor.
    pub struct Cluster {
        id: String = "string", "the ID of the cluster";
        name: String = "string", "the name of the cluster";
        podid: String = "string", "the ID of the cluster's pod";
        podname: String = "string", "the name of the cluster's pod";
        zoneid: String = "string", "the ID of the cluster's zone";
        zonename: String = "string", "the name of the cluster's zone";
        hypervisortype: String = "string", "the hypervisor of the cluster's hosts";
        clustertype: String = "string", "CloudManaged or ExternalManaged";
        allocationstate: String = "string", "Enabled when new instances may be placed here";
        managedstate: String = "string", "Managed when the cluster is managed";
        cpuovercommitratio: String = "string", "how far CPU is over-committed";
        memoryovercommitratio: String = "string", "how far memory is over-committed";
    }
}

wire_object! {
    /// A hypervisor host.
    pub struct Host {
        id: String = "string", "the ID of the host";
        name: String = "string", "the name of the host";
        state: String = "string", "Up, Down, Disconnected, ...";
        r#type as "type": String = "string", "Routing for a hypervisor host";
        resourcestate: String = "string", "Enabled, Disabled or Maintenance";
        zoneid: String = "string", "the ID of the host's zone";
        zonename: String = "string", "the name of the host's zone";
        podid: String = "string", "the ID of the host's pod";
        podname: String = "string", "the name of the host's pod";
        clusterid: String = "string", "the ID of the host's cluster";
        clustername: String = "string", "the name of the host's cluster";
        hypervisor: String = "string", "the hypervisor of the host";
        cpunumber: i64 = "integer", "the number of CPUs of the host";
        cpuspeed: i64 = "long", "the speed of each CPU in MHz";
        cpuallocated: String = "string", "the share of CPU allocated to instances, in percent";
        memorytotal: i64 = "long", "the memory of the host in bytes";
        memoryallocated: i64 = "long", "the memory allocated to instances in bytes";
        islocalstorageactive: bool = "boolean", "true if local storage is in use";
        created: Timestamp = "date", "when the host was added";
        version: String = "string", "the version of the host's agent";
    }
}

wire_object! {
    /// A hypervisor type available in the cloud.
    pub struct Hypervisor {
        name: String = "string", "the name of the hypervisor";
    }
}

wire_object! {
    /// A service offering (an EC2 instance type).
    pub struct ServiceOffering {
        id: String = "string", "the ID of the service offering";
        name: String = "string", "the name of the service offering";
        displaytext: String = "string", "a description of the service offering";
        cpunumber: i64 = "integer", "the number of vCPUs";
        cpuspeed: i64 = "integer", "the clock rate of each vCPU in MHz";
        memory: i64 = "integer", "the memory in MiB";
        created: Timestamp = "date", "when the offering was created";
        storagetype: String = "string", "shared or local storage for the root volume";
        offerha: bool = "boolean", "true if instances are restarted elsewhere on host failure";
        limitcpuuse: bool = "boolean", "true if CPU use is capped at the offered speed";
        isvolatile: bool = "boolean", "true if the root volume is reset on reboot";
        issystem: bool = "boolean", "true if the offering is for system VMs";
        defaultuse: bool = "boolean", "true if the offering is a system default";
        iscustomized: bool = "boolean", "true if CPU and memory are chosen at deployment";
    }
}

wire_object! {
    /// A disk offering.
    pub struct DiskOffering {
        id: String = "string", "the ID of the disk offering";
        name: String = "string", "the name of the disk offering";
        displaytext: String = "string", "a description of the disk offering";
        disksize: i64 = "long", "the size of the disk in GiB; 0 when customized";
        iscustomized: bool = "boolean", "true if the size is chosen per volume";
        created: Timestamp = "date", "when the offering was created";
        storagetype: String = "string", "shared or local storage";
        provisioningtype: String = "string", "thin, sparse or fat provisioning";
        displayoffering: bool = "boolean", "true if the offering is shown to users";
    }
}

wire_object! {
    /// A template (an EC2 image) in one zone.
    pub struct Template {
        id: String = "string", "the ID of the template";
        name: String = "string", "the name of the template";
        displaytext: String = "string", "a description of the template";
        ispublic: bool = "boolean", "true if every account may use the template";
        isfeatured: bool = "boolean", "true if the template is featured";
        isready: bool = "boolean", "true once the template can be deployed";
        status: String = "string", "the download status of the template";
        created: Timestamp = "date", "when the template was registered";
        size: i64 = "long", "the size of the template in bytes";
        zoneid: String = "string", "the ID of the zone holding the template";
        zonename: String = "string", "the name of the zone holding the template";
        hypervisor: String = "string", "the hypervisor the template runs on";
        format: String = "string", "the disk format: QCOW2, RAW, ...";
        ostypeid: String = "string", "the ID of the template's OS type";
        ostypename: String = "string", "the name of the template's OS type";
        account: String = "string", "the account owning the template";
        accountid: String = "string", "the ID of the account owning the template";
        domain: String = "string", "the domain of the owning account";
        domainid: String = "string", "the ID of the domain of the owning account";
        templatetype: String = "string", "BUILTIN, USER, SYSTEM, ...";
        passwordenabled: bool = "boolean", "true if the template can reset its password";
        sshkeyenabled: bool = "boolean", "true if the template takes SSH keys";
        isextractable: bool = "boolean", "true if the template can be downloaded";
        crosszones as "crossZones": bool = "boolean", "true if the template is in every zone";
        bootable: bool = "boolean", "true if the template boots";
        isdynamicallyscalable: bool = "boolean", "true if instances can be scaled live";
        directdownload: bool = "boolean", "true if hosts download the template directly";
        requireshvm: bool = "boolean", "true if the template needs hardware virtualization";
        tags: Vec<Tag> = "list", "the tags of the template";
    }
}

wire_object! {
    /// Who may use a template besides its owner.
    pub struct TemplatePermission {
        id: String = "string", "the ID of the template";
        ispublic: bool = "boolean", "true if every account may use the template";
        domainid: String = "string", "the ID of the domain of the owning account";
        account: Vec<String> = "list", "the accounts the template is shared with";
    }
}

wire_object! {
    /// A guest OS type.
    pub struct OsType {
        id: String = "string", "the ID of the OS type";
        description: String = "string", "the name of the OS type";
        oscategoryid: String = "string", "the ID of the OS category";
        oscategoryname: String = "string", "the name of the OS category";
        isuserdefined: bool = "boolean", "true if an operator added the OS type";
    }
}

wire_object! {
    /// A domain.
    pub struct Domain {
        id: String = "string", "the ID of the domain";
        name: String = "string", "the name of the domain";
        level: i64 = "integer", "the depth of the domain below ROOT";
        parentdomainid: Option<String> = "string", "the ID of the parent domain";
        parentdomainname: Option<String> = "string", "the name of the parent domain";
        haschild: bool = "boolean", "true if the domain has child domains";
        path: String = "string", "the path of the domain, ROOT/...";
        state: String = "string", "the state of the domain";
        created: Timestamp = "date", "when the domain was created";
    }
}

wire_object! {
    /// A user of an account.
    pub struct User {
        id: String = "string", "the ID of the user";
        username: String = "string", "the user name";
        firstname: String = "string", "the user's first name";
        lastname: String = "string", "the user's last name";
        email: String = "string", "the user's e-mail address";
        created: Timestamp = "date", "when the user was created";
        state: String = "string", "the state of the user";
        account: String = "string", "the name of the user's account";
        accountid: String = "string", "the ID of the user's account";
        accounttype: i64 = "integer", "0 user, 1 root admin, 2 domain admin";
        roletype: String = "string", "Admin, DomainAdmin or User";
        rolename: String = "string", "the name of the account's role";
        domainid: String = "string", "the ID of the user's domain";
        domain: String = "string", "the name of the user's domain";
        apikey: Option<String> = "string", "the user's API key";
        isdefault: bool = "boolean", "true if the user was created with the cloud";
        usersource: String = "string", "where the user is authenticated: native";
    }
}

wire_object! {
    /// An account.
    pub struct Account {
        id: String = "string", "the ID of the account";
        name: String = "string", "the name of the account";
        accounttype: i64 = "integer", "0 user, 1 root admin, 2 domain admin";
        roletype: String = "string", "Admin, DomainAdmin or User";
        rolename: String = "string", "the name of the account's role";
        domainid: String = "string", "the ID of the account's domain";
        domain: String = "string", "the name of the account's domain";
        domainpath: String = "string", "the path of the account's domain";
        state: String = "string", "the state of the account";
        created: Timestamp = "date", "when the account was created";
        isdefault: bool = "boolean", "true if the account was created with the cloud";
        user: Vec<User> = "list", "the users of the account";
    }
}

wire_object! {
    /// A NIC of an instance.
    pub struct Nic {
        id: String = "string", "the ID of the NIC";
        networkid: String = "string", "the ID of the NIC's network";
        networkname: String = "string", "the name of the NIC's network";
        ipaddress: String = "string", "the IPv4 address of the NIC";
        macaddress: String = "string", "the MAC address of the NIC";
        isdefault: bool = "boolean", "true for the instance's default NIC";
        traffictype: String = "string", "Guest for a guest NIC";
        r#type as "type": String = "string", "Isolated, Shared, ...";
        netmask: Option<String> = "string", "the netmask of the NIC's network";
        gateway: Option<String> = "string", "the gateway of the NIC's network";
    }
}

wire_object! {
    /// A security group an instance is in.
    pub struct SecurityGroupRef {
        id: String = "string", "the ID of the security group";
        name: String = "string", "the name of the security group";
        description: String = "string", "the description of the security group";
    }
}

wire_object! {
    /// An affinity group an instance is in.
    pub struct AffinityGroupRef {
        id: String = "string", "the ID of the affinity group";
        name: String = "string", "the name of the affinity group";
        r#type as "type": String = "string", "the type of the affinity group";
    }
}

wire_object! {
    /// A virtual machine (an EC2 instance).
    pub struct VirtualMachine {
        id: String = "string", "the ID of the instance";
        name: String = "string", "the name of the instance";
        displayname: String = "string", "the display name of the instance";
        account: String = "string", "the account owning the instance";
        domainid: String = "string", "the ID of the domain of the owning account";
        domain: String = "string", "the domain of the owning account";
        created: Timestamp = "date", "when the instance was created";
        state: String = "string", "Running, Stopped, Starting, Stopping, Destroyed, ...";
        haenable: bool = "boolean", "true if the instance is restarted on host failure";
        zoneid: String = "string", "the ID of the instance's zone";
        zonename: String = "string", "the name of the instance's zone";
        hostid: Option<String> = "string", "the ID of the instance's host (admins only)";
        hostname: Option<String> = "string", "the name of the instance's host (admins only)";
        templateid: String = "string", "the ID of the template the instance was made from";
        templatename: String = "string", "the name of that template";
        templatedisplaytext: String = "string", "the description of that template";
        serviceofferingid: String = "string", "the ID of the instance's service offering";
        serviceofferingname: String = "string", "the name of the instance's service offering";
        cpunumber: i64 = "integer", "the number of vCPUs";
        cpuspeed: i64 = "integer", "the clock rate of each vCPU in MHz";
        memory: i64 = "integer", "the memory in MiB";
        hypervisor: String = "string", "the hypervisor running the instance";
        passwordenabled: bool = "boolean", "true if the instance has a generated password";
        isdynamicallyscalable: bool = "boolean", "true if the instance can be scaled live";
        instancename: Option<String> = "string", "the internal name (admins only)";
        nic: Vec<Nic> = "list", "the NICs of the instance";
        securitygroup: Vec<SecurityGroupRef> = "list", "the security groups of the instance";
        affinitygroup: Vec<AffinityGroupRef> = "list", "the affinity groups of the instance";
        tags: Vec<Tag> = "list", "the tags of the instance";
        keypairs: Option<String> = "string", "the names of the instance's SSH key pairs";
        jobid: Option<String> = "string", "the ID of the job pending on the instance";
        jobstatus: Option<i64> = "integer", "the status of that job: 0 while pending";
        isoid: Option<String> = "string", "the ID of the ISO in the instance's CD drive";
        isoname: Option<String> = "string", "the name of that ISO";
        isodisplaytext: Option<String> = "string", "the description of that ISO";
    }
}

wire_object! {
    /// A project.
    pub struct Project {
        id: String = "string", "the ID of the project";
        name: String = "string", "the name of the project";
        displaytext: String = "string", "a description of the project";
        domainid: String = "string", "the ID of the project's domain";
        domain: String = "string", "the name of the project's domain";
        state: String = "string", "the state of the project";
        created: Timestamp = "date", "when the project was created";
    }
}

wire_object! {
    /// What the cloud can do, as `listCapabilities` tells it.
    pub struct Capability {
        cloudstackversion: String = "string", "the CloudStack version this cloud speaks";
        securitygroupsenabled: bool = "boolean", "true if security groups are enabled";
        userpublictemplateenabled: bool = "boolean", "true if users may make public templates";
        supportelb as "supportELB": String = "string", "true if elastic load balancing is served";
        projectinviterequired: bool = "boolean", "true if joining a project needs an invitation";
        allowusercreateprojects: bool = "boolean", "true if users may create projects";
        customdiskofferingminsize: i64 = "long", "the smallest custom disk in GiB";
        customdiskofferingmaxsize: i64 = "long", "the largest custom disk in GiB";
        kvmsnapshotenabled: bool = "boolean", "true if KVM volumes may be snapshot";
        regionsecondaryenabled: bool = "boolean", "true if secondary storage is region-wide";
        apilimitinterval: i64 = "integer", "the API rate limit interval in seconds";
        apilimitmax: i64 = "integer", "the API calls allowed per interval";
        allowuserviewdestroyedvm: bool = "boolean", "true if users see destroyed instances";
        allowuserexpungerecovervm: bool = "boolean", "true if users may expunge or recover";
        allowuserexpungerecovervolume: bool = "boolean", "true if users may expunge volumes";
        dynamicrolesenabled: bool = "boolean", "true if roles are dynamic";
        defaultuipagesize: i64 = "long", "the default page size";
        kubernetesserviceenabled: bool = "boolean", "true if the Kubernetes service is on";
    }
}

wire_object! {
    /// The reply to `login`. CloudStack sends every field but `timeout` as a string.
    pub struct LoginResponse {
        username: String = "string", "the user name";
        userid: String = "string", "the ID of the user";
        domainid: String = "string", "the ID of the user's domain";
        timeout: i64 = "integer", "seconds of inactivity before the session ends";
        account: String = "string", "the name of the user's account";
        firstname: String = "string", "the user's first name";
        lastname: String = "string", "the user's last name";
        r#type as "type": String = "string", "the account type: 0 user, 1 root admin, 2 domain admin";
        registered: String = "string", "whether the user is registered";
        sessionkey: String = "string", "the session key to pass with later requests";
        is2faenabled: String = "string", "whether two-factor authentication is enabled";
        is2faverified: String = "string", "whether two-factor authentication is verified";
    }
}

wire_object! {
    /// The reply to `logout`.
    pub struct LogoutResponse {
        description: String = "string", "success";
    }
}

wire_object! {
    /// An asynchronous job, as `queryAsyncJobResult` and `listAsyncJobs` show it.
    pub struct AsyncJob {
        jobid: String = "string", "the ID of the job";
        accountid: String = "string", "the ID of the account that submitted the job";
        userid: String = "string", "the ID of the user that submitted the job";
        cmd: String = "string", "the class of the command the job runs";
        jobstatus: i64 = "integer", "0 pending, 1 succeeded, 2 failed";
        jobprocstatus: i64 = "integer", "the progress of the job";
        jobresultcode: i64 = "integer", "0, or the error code of a failed job";
        jobresulttype: Option<String> = "string", "object once the job has a result";
        jobresult: Option<serde_json::Value> = "responseobject",
            "the command's result, or errorcode and errortext";
        jobinstancetype: Option<String> = "string", "the kind of resource the job works on";
        jobinstanceid: Option<String> = "string", "the ID of the resource the job works on";
        created: Timestamp = "date", "when the job was submitted";
        completed: Option<Timestamp> = "date", "when the job ended";
    }
}

wire_object! {
    /// An event of the event log.
    pub struct Event {
        id: String = "string", "the ID of the event";
        username: String = "string", "the user that caused the event";
        r#type as "type": String = "string", "the type of the event, VM.CREATE, ...";
        level: String = "string", "INFO, WARN or ERROR";
        description: String = "string", "what happened";
        account: String = "string", "the account of the event";
        domainid: String = "string", "the ID of the domain of that account";
        domain: String = "string", "the name of the domain of that account";
        created: Timestamp = "date", "when the event happened";
        state: String = "string", "Scheduled, Started, Completed or Created";
        resourceid: Option<String> = "string", "the ID of the resource concerned";
        resourcetype: Option<String> = "string", "the type of the resource concerned";
    }
}

wire_object! {
    /// A public IP address (EC2: an elastic IP), and its static NAT mapping if it has one.
    pub struct PublicIpAddress {
        id: String = "string", "the ID of the address";
        ipaddress: String = "string", "the address";
        allocated: Timestamp = "date", "when the address was acquired";
        zoneid: String = "string", "the ID of the address's zone";
        zonename: String = "string", "the name of the address's zone";
        issourcenat: bool = "boolean", "true if it is its network's source NAT address";
        isstaticnat: bool = "boolean", "true if it is mapped one to one to an instance";
        issystem: bool = "boolean", "true if the system acquired it";
        forvirtualnetwork: bool = "boolean", "true if it serves guest (virtual) networks";
        isportable: bool = "boolean", "true if it may move between zones";
        fordisplay: bool = "boolean", "true if it is shown to the end user";
        virtualmachineid: Option<String> = "string", "the instance it is mapped to";
        virtualmachinename: Option<String> = "string", "the name of that instance";
        virtualmachinedisplayname: Option<String> = "string", "the display name of that instance";
        virtualmachinetype: Option<String> = "string", "the type of that instance (User)";
        vmipaddress: Option<String> = "string", "the instance's private address it maps to";
        associatednetworkid: Option<String> = "string", "the network the address serves";
        networkid: Option<String> = "string", "the network the address serves";
        state: String = "string", "Allocated, Allocating, Releasing, ...";
        account: String = "string", "the account owning the address";
        domainid: String = "string", "the ID of that account's domain";
        domain: String = "string", "the name of that account's domain";
        tags: Vec<Tag> = "list", "the tags of the address";
    }
}

wire_object! {
    /// The reply to an asynchronous command: its job, and for a create the new resource's ID.
    pub struct JobSubmitted {
        id: Option<String> = "string", "the ID of the resource being created";
        jobid: String = "string", "the ID of the job; poll queryAsyncJobResult";
    }
}

wire_object! {
    /// The reply of a synchronous command that only succeeds or fails. CloudStack sends
    /// `success` here as the string "true" (Libcloud compares it so); a job's result carries a
    /// real boolean.
    pub struct Success {
        success: String = "string", "true if the operation succeeded";
        displaytext: Option<String> = "string", "what happened";
    }
}

wire_object! {
    /// A port forwarding or static NAT rule of a public IP address.
    pub struct ForwardingRule {
        id: String = "string", "the ID of the rule";
        ipaddressid: String = "string", "the ID of the public address";
        ipaddress: String = "string", "the public address";
        protocol: String = "string", "tcp, udp or icmp";
        publicport: Option<String> = "string", "the first public port";
        publicendport: Option<String> = "string", "the last public port";
        privateport: Option<String> = "string", "the first private port";
        privateendport: Option<String> = "string", "the last private port";
        virtualmachineid: String = "string", "the ID of the instance the rule forwards to";
        virtualmachinename: String = "string", "the name of that instance";
        state: String = "string", "Active, Add or Revoke";
        cidrlist: String = "string", "the source CIDRs allowed";
        tags: Vec<Tag> = "list", "the tags of the rule";
    }
}

wire_object! {
    /// A user's API key pair; the secret only for the user itself or an admin over it.
    pub struct UserKeys {
        apikey: String = "string", "the API key";
        secretkey: Option<String> = "string", "the secret key";
    }
}

wire_object! {
    /// An SSH key pair; the private key only in the reply that made it.
    pub struct SshKeyPair {
        id: String = "string", "the ID of the key pair";
        name: String = "string", "the name of the key pair";
        fingerprint: String = "string", "the fingerprint of the public key";
        privatekey: Option<String> = "string", "the private key, shown once when made";
        account: String = "string", "the account owning the key pair";
        domainid: String = "string", "the ID of that account's domain";
        domain: String = "string", "the name of that account's domain";
    }
}

wire_object! {
    /// A guest network: a tier of a VPC in one zone.
    pub struct Network {
        id: String = "string", "the ID of the network";
        name: String = "string", "the name of the network";
        displaytext: String = "string", "a description of the network";
        cidr: String = "string", "the network's IPv4 CIDR";
        gateway: String = "string", "the network's gateway";
        netmask: String = "string", "the network's netmask";
        zoneid: String = "string", "the ID of the network's zone";
        zonename: String = "string", "the name of the network's zone";
        r#type as "type": String = "string", "Isolated, Shared or L2";
        traffictype: String = "string", "Guest";
        state: String = "string", "Allocated, Implemented, ...";
        vpcid: String = "string", "the ID of the network's VPC";
        isdefault: bool = "boolean", "true for the account's default network in its zone";
        account: String = "string", "the account owning the network";
        domainid: String = "string", "the ID of that account's domain";
        domain: String = "string", "the name of that account's domain";
        tags: Vec<Tag> = "list", "the tags of the network";
    }
}

wire_object! {
    /// A VPC.
    pub struct VpcInfo {
        id: String = "string", "the ID of the VPC";
        name: String = "string", "the name of the VPC";
        displaytext: String = "string", "a description of the VPC";
        cidr: String = "string", "the VPC's IPv4 CIDR";
        state: String = "string", "Enabled or Inactive";
        account: String = "string", "the account owning the VPC";
        domainid: String = "string", "the ID of that account's domain";
        domain: String = "string", "the name of that account's domain";
        network: Vec<Network> = "list", "the VPC's networks (tiers)";
        tags: Vec<Tag> = "list", "the tags of the VPC";
    }
}
