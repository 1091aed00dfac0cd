//! The native door's one error type. Every failure a client can see is an [`ApiError`]: an
//! `errorcode` (which is also the HTTP status), CloudStack's `cserrorcode` for the exception
//! class CloudStack would have thrown, and the `errortext`. Texts that clients string-match
//! (missing parameter, unknown id, paging) are CloudStack's own wording; the rest are ours.

use std::fmt;

/// CloudStack's `ApiErrorCode`: the `errorcode` field and the HTTP status of an error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A request without a command (the servlet's own 400, not an `ApiErrorCode`).
    BadRequest,
    /// Bad signature, unknown key, expired request, unknown command, no session.
    Unauthorized,
    /// Two-factor authentication is required.
    TwoFactorRequired,
    /// `login` over anything but POST.
    MethodNotAllowed,
    /// Too many requests.
    ApiLimitExceeded,
    /// A parameter that cannot be decoded at all (a malformed map parameter).
    MalformedParameter,
    /// A missing or invalid parameter.
    ParamError,
    /// A real CloudStack command that this server does not serve.
    UnsupportedAction,
    /// Our fault.
    Internal,
    /// Permission denied, bad login.
    Account,
    /// An account resource limit was hit.
    AccountResourceLimit,
    /// Not enough capacity to place something.
    InsufficientCapacity,
    /// A resource needed is unavailable.
    ResourceUnavailable,
    /// A resource could not be allocated.
    ResourceAllocation,
    /// A resource is still in use.
    ResourceInUse,
    /// A network rule conflicts with another.
    NetworkRuleConflict,
}

impl ErrorCode {
    pub const ALL: [Self; 16] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::TwoFactorRequired,
        Self::MethodNotAllowed,
        Self::ApiLimitExceeded,
        Self::MalformedParameter,
        Self::ParamError,
        Self::UnsupportedAction,
        Self::Internal,
        Self::Account,
        Self::AccountResourceLimit,
        Self::InsufficientCapacity,
        Self::ResourceUnavailable,
        Self::ResourceAllocation,
        Self::ResourceInUse,
        Self::NetworkRuleConflict,
    ];

    /// The code of this wire number, if CloudStack has one.
    pub fn from_number(n: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.number() == n)
    }

    /// The number on the wire, also the HTTP status.
    pub fn number(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::TwoFactorRequired => 411,
            Self::MethodNotAllowed => 405,
            Self::ApiLimitExceeded => 429,
            Self::MalformedParameter => 430,
            Self::ParamError => 431,
            Self::UnsupportedAction => 432,
            Self::Internal => 530,
            Self::Account => 531,
            Self::AccountResourceLimit => 532,
            Self::InsufficientCapacity => 533,
            Self::ResourceUnavailable => 534,
            Self::ResourceAllocation => 535,
            Self::ResourceInUse => 536,
            Self::NetworkRuleConflict => 537,
        }
    }
}

/// CloudStack's `cserrorcode` for `ServerApiException`, the wrapper of parameter errors.
pub const CS_SERVER_API: u32 = 9999;
/// `cserrorcode` for `InvalidParameterValueException`.
pub const CS_INVALID_PARAMETER: u32 = 4350;
/// `cserrorcode` for `PermissionDeniedException`.
pub const CS_PERMISSION_DENIED: u32 = 4365;
/// `cserrorcode` for `CloudRuntimeException`.
pub const CS_CLOUD_RUNTIME: u32 = 4250;
/// `cserrorcode` for `InsufficientServerCapacityException`.
pub const CS_INSUFFICIENT_CAPACITY: u32 = 4335;
/// `cserrorcode` for `ResourceInUseException`.
pub const CS_RESOURCE_IN_USE: u32 = 4375;
/// `cserrorcode` for `ResourceAllocationException`.
pub const CS_RESOURCE_ALLOCATION: u32 = 4370;

/// The text of every authentication failure, as CloudStack words it.
pub const UNAUTHORIZED_TEXT: &str = "unable to verify user credentials and/or request signature";
/// What a caller reads when the server failed; the cause is logged, never sent.
pub const INTERNAL_TEXT: &str =
    "Internal error executing the command, please contact your system administrator";

/// One error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    /// CloudStack omits it on 401 and on login failures.
    pub cs_code: Option<u32>,
    pub text: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code.number(), self.text)
    }
}

impl std::error::Error for ApiError {}

/// CloudStack names a command in its parameter errors by its response name without
/// `response`: the API name lowercased.
fn short_name(command: &str) -> String {
    command.to_ascii_lowercase()
}

impl ApiError {
    fn new(code: ErrorCode, cs_code: Option<u32>, text: impl Into<String>) -> Self {
        Self {
            code,
            cs_code,
            text: text.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, None, UNAUTHORIZED_TEXT)
    }

    pub fn bad_request(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, None, text)
    }

    pub fn method_not_allowed(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::MethodNotAllowed, None, text)
    }

    pub fn login_failed(username: &str, domain: &str) -> Self {
        Self::new(
            ErrorCode::Account,
            None,
            format!(
                "Failed to authenticate user {username} in domain {domain}; please provide valid \
                 credentials"
            ),
        )
    }

    pub fn missing_parameter(command: &str, param: &str) -> Self {
        Self::new(
            ErrorCode::ParamError,
            Some(CS_SERVER_API),
            format!(
                "Unable to execute API command {} due to missing parameter {param}",
                short_name(command)
            ),
        )
    }

    /// A value that does not parse as the parameter's type (a number, say).
    pub fn invalid_value(command: &str, param: &str, value: &str) -> Self {
        Self::new(
            ErrorCode::ParamError,
            Some(CS_SERVER_API),
            format!(
                "Unable to execute API command {} due to invalid value {value} for parameter \
                 {param}",
                short_name(command)
            ),
        )
    }

    /// A value the service layer refused while the parameters were read, in CloudStack's
    /// "due to invalid value. <reason>" form.
    pub fn invalid_value_because(command: &str, reason: &str) -> Self {
        Self::new(
            ErrorCode::ParamError,
            Some(CS_SERVER_API),
            format!(
                "Unable to execute API command {} due to invalid value. {reason}",
                short_name(command)
            ),
        )
    }

    /// A well-formed id that names nothing of the parameter's kind. cloudstack-go and
    /// Terraform match this text to decide that a resource is gone.
    pub fn unknown_id(command: &str, param: &str, value: &str) -> Self {
        Self::invalid_value_because(
            command,
            &format!(
                "Invalid parameter {param} value={value} due to incorrect long value format, or \
                 entity does not exist or due to incorrect parameter annotation for the field in \
                 api cmd class."
            ),
        )
    }

    /// A parameter combination or value the command refuses (`InvalidParameterValueException`).
    pub fn invalid_parameter(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::ParamError, Some(CS_INVALID_PARAMETER), text)
    }

    /// A parameter error raised directly as a `ServerApiException` (some paging rules).
    pub fn param_error(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::ParamError, Some(CS_SERVER_API), text)
    }

    pub fn malformed(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::MalformedParameter, Some(CS_SERVER_API), text)
    }

    /// A served command refusing what it cannot do here, in the command's own words.
    pub fn unsupported_because(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnsupportedAction, Some(CS_SERVER_API), text)
    }

    pub fn unsupported(command: &str) -> Self {
        Self::new(
            ErrorCode::UnsupportedAction,
            Some(CS_SERVER_API),
            format!("The API {command} is a CloudStack API that this server does not serve yet"),
        )
    }

    pub fn permission_denied(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::Account, Some(CS_PERMISSION_DENIED), text)
    }

    /// No host has room (CloudStack hides the detail from all but the root admin).
    pub fn insufficient_capacity(text: impl Into<String>) -> Self {
        Self::new(
            ErrorCode::InsufficientCapacity,
            Some(CS_INSUFFICIENT_CAPACITY),
            text,
        )
    }

    /// Something still uses the resource.
    pub fn resource_in_use(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceInUse, Some(CS_RESOURCE_IN_USE), text)
    }

    /// A resource could not be allocated (a name already taken, say).
    pub fn resource_allocation(text: impl Into<String>) -> Self {
        Self::new(
            ErrorCode::ResourceAllocation,
            Some(CS_RESOURCE_ALLOCATION),
            text,
        )
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, Some(CS_CLOUD_RUNTIME), INTERNAL_TEXT)
    }

    /// A server-side failure whose text is safe and useful to show (never a cause's text).
    pub fn internal_with(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, Some(CS_CLOUD_RUNTIME), text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_texts_are_cloudstacks() {
        let cases = [
            (
                ApiError::missing_parameter("listTemplates", "templatefilter"),
                "Unable to execute API command listtemplates due to missing parameter \
                 templatefilter",
            ),
            (
                ApiError::unknown_id("listZones", "id", "0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d"),
                "Unable to execute API command listzones due to invalid value. Invalid parameter \
                 id value=0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d due to incorrect long value \
                 format, or entity does not exist or due to incorrect parameter annotation for \
                 the field in api cmd class.",
            ),
            (
                ApiError::invalid_value("listZones", "page", "x"),
                "Unable to execute API command listzones due to invalid value x for parameter \
                 page",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.text, text);
            assert_eq!(err.code.number(), 431);
            assert_eq!(err.cs_code, Some(CS_SERVER_API));
        }
    }

    #[test]
    fn authentication_errors_carry_no_cserrorcode() {
        assert_eq!(ApiError::unauthorized().cs_code, None);
        assert_eq!(ApiError::unauthorized().code.number(), 401);
        assert_eq!(ApiError::login_failed("bob", "/").code.number(), 531);
        assert_eq!(ApiError::login_failed("bob", "/").cs_code, None);
    }

    #[test]
    fn statuses_are_cloudstacks() {
        let all = [
            (ErrorCode::BadRequest, 400),
            (ErrorCode::Unauthorized, 401),
            (ErrorCode::TwoFactorRequired, 411),
            (ErrorCode::MethodNotAllowed, 405),
            (ErrorCode::ApiLimitExceeded, 429),
            (ErrorCode::MalformedParameter, 430),
            (ErrorCode::ParamError, 431),
            (ErrorCode::UnsupportedAction, 432),
            (ErrorCode::Internal, 530),
            (ErrorCode::Account, 531),
            (ErrorCode::AccountResourceLimit, 532),
            (ErrorCode::InsufficientCapacity, 533),
            (ErrorCode::ResourceUnavailable, 534),
            (ErrorCode::ResourceAllocation, 535),
            (ErrorCode::ResourceInUse, 536),
            (ErrorCode::NetworkRuleConflict, 537),
        ];
        for (code, n) in all {
            assert_eq!(code.number(), n, "{code:?}");
            assert_eq!(ErrorCode::from_number(n), Some(code));
        }
        assert_eq!(ErrorCode::ALL.len(), all.len());
        assert_eq!(ErrorCode::from_number(200), None);
    }
}
