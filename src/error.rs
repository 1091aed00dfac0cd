//! The core's one error type. Every operation of the core answers `Result<T, CoreError>`; each
//! door's translation maps these onto its own wire codes (EC2 codes, S3 codes, CloudStack
//! errorcodes), so the core never knows which door a request came through.

use std::fmt;

/// The kinds of resource the core names in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Domain,
    Account,
    User,
    ApiKey,
    Zone,
    Pod,
    Cluster,
    Host,
    ServiceOffering,
    DiskOffering,
    Template,
    Instance,
    Job,
}

impl ResourceKind {
    /// The word an operator reads in a message.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Domain => "domain",
            Self::Account => "account",
            Self::User => "user",
            Self::ApiKey => "API key",
            Self::Zone => "zone",
            Self::Pod => "pod",
            Self::Cluster => "cluster",
            Self::Host => "host",
            Self::ServiceOffering => "service offering",
            Self::DiskOffering => "disk offering",
            Self::Template => "template",
            Self::Instance => "instance",
            Self::Job => "job",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// No resource of this kind has that id (or the caller may not see it).
    #[error("the {kind} '{id}' does not exist")]
    NotFound { kind: ResourceKind, id: String },

    /// A resource with the same unique name is already there.
    #[error("a {kind} named '{name}' already exists")]
    AlreadyExists { kind: ResourceKind, name: String },

    /// A parameter has a value the core cannot accept; the text names it.
    #[error("{0}")]
    InvalidParameter(String),

    /// The resource is in a state that does not allow the operation.
    #[error("the {kind} '{id}' is {state}, and this needs it {wanted}")]
    IncorrectState {
        kind: ResourceKind,
        id: String,
        state: String,
        wanted: String,
    },

    /// No host has room for what was asked.
    #[error("{0}")]
    InsufficientCapacity(String),

    /// The network (an EC2 subnet) has no address left to give an instance.
    #[error("{0}")]
    NoFreeAddress(String),

    /// The caller is authenticated but may not do this.
    #[error("{0}")]
    PermissionDenied(String),

    /// The store failed; the source is logged where it is turned into an API error.
    #[error("the database failed")]
    Store(#[from] sqlx::Error),

    /// Anything else that is our fault.
    #[error("{0}")]
    Internal(String),
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn not_found(kind: ResourceKind, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// True for errors that are the server's fault rather than the caller's.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Internal(_))
    }
}
