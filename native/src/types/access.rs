//! The response objects of security groups and of the network and VPC offerings.

use crate::wire::Timestamp;
use crate::wire_object;

use super::Tag;

wire_object! {
    /// One rule of a security group (ingress or egress).
    pub struct SecurityGroupRule {
        ruleid: String = "string", "the ID of the rule";
        protocol: String = "string", "tcp, udp, icmp or all";
        startport: Option<i64> = "integer", "the first port (tcp and udp)";
        endport: Option<i64> = "integer", "the last port (tcp and udp)";
        icmptype: Option<i64> = "integer", "the ICMP type (icmp)";
        icmpcode: Option<i64> = "integer", "the ICMP code (icmp)";
        cidr: Option<String> = "string", "the CIDR the rule admits";
        securitygroupname: Option<String> = "string", "the group whose members the rule admits";
        account: Option<String> = "string", "the account of that group";
        tags: Vec<Tag> = "list", "the tags of the rule";
    }
}

wire_object! {
    /// A security group with its rules.
    pub struct SecurityGroup {
        id: String = "string", "the ID of the group";
        name: String = "string", "the name of the group";
        description: String = "string", "the description of the group";
        account: String = "string", "the account owning the group";
        domainid: String = "string", "the ID of that account's domain";
        domain: String = "string", "the name of that account's domain";
        ingressrule: Vec<SecurityGroupRule> = "set", "the group's ingress rules";
        egressrule: Vec<SecurityGroupRule> = "set", "the group's egress rules";
        virtualmachinecount: i64 = "integer", "how many instances are in the group";
        virtualmachineids: Vec<String> = "set", "the IDs of the instances in the group";
        tags: Vec<Tag> = "list", "the tags of the group";
    }
}

wire_object! {
    /// A provider of a network service.
    pub struct ServiceProvider {
        name: String = "string", "the name of the provider";
    }
}

wire_object! {
    /// A network service an offering includes.
    pub struct OfferingService {
        name: String = "string", "the name of the service (Dhcp, Dns, StaticNat, ...)";
        provider: Vec<ServiceProvider> = "list", "who provides the service";
    }
}

wire_object! {
    /// A network offering: what a guest network of this kind provides.
    pub struct NetworkOffering {
        id: String = "string", "the ID of the offering";
        name: String = "string", "the name of the offering";
        displaytext: String = "string", "a description of the offering";
        traffictype: String = "string", "Guest";
        guestiptype: String = "string", "Isolated, Shared or L2";
        isdefault: bool = "boolean", "true if the offering is a default one";
        specifyvlan: bool = "boolean", "true if a network of it needs a VLAN";
        specifyipranges: bool = "boolean", "true if a network of it needs IP ranges";
        conservemode: bool = "boolean", "true if services may share one public address";
        availability: String = "string", "Required, Optional or Unavailable";
        state: String = "string", "Enabled or Disabled";
        forvpc: bool = "boolean", "true if its networks are VPC tiers";
        ispersistent: bool = "boolean", "true if its networks exist without instances";
        egressdefaultpolicy: bool = "boolean", "true if egress is allowed by default";
        internetprotocol: String = "string", "IPv4 or DualStack";
        networkrate: i64 = "integer", "the data rate in Mb/s; -1 for no limit";
        created: Timestamp = "date", "when the offering was created";
        service: Vec<OfferingService> = "list", "the services of the offering";
    }
}

wire_object! {
    /// A VPC offering: what a VPC of this kind provides.
    pub struct VpcOffering {
        id: String = "string", "the ID of the offering";
        name: String = "string", "the name of the offering";
        displaytext: String = "string", "a description of the offering";
        isdefault: bool = "boolean", "true if the offering is the default one";
        state: String = "string", "Enabled or Disabled";
        distributedvpcrouter: bool = "boolean", "true if the VPC router is distributed";
        supportsregionlevelvpc as "supportsregionLevelvpc": bool = "boolean", "true if a VPC may span zones";
        internetprotocol: String = "string", "IPv4 or DualStack";
        created: Timestamp = "date", "when the offering was created";
        service: Vec<OfferingService> = "list", "the services of the offering";
    }
}
