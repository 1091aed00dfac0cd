//! STS over the awsQuery protocol, for the one call every SDK and Terraform make to learn who
//! they are: GetCallerIdentity. Requests whose credential scope names the `sts` service land
//! here; answers use the awsQuery shape (`<{Action}Result>` wrapper, `<ResponseMetadata>`).
//!
//! LIMITATION: Cirrus issues no temporary credentials, so AssumeRole, GetSessionToken and the
//! other STS actions answer UnsupportedOperation.

use crate::error::{Code, Ec2Error};
use crate::generated::operations::{STS_INPUT_PARAMS, STS_OPERATIONS};
use crate::query::Params;
use crate::xml;
use crate::Caller;

/// The namespace of STS answers and of the awsQuery error envelope.
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

const GET_CALLER_IDENTITY: &str = "GetCallerIdentity";

/// The IAM-style ARN of a user: `arn:aws:iam::<account number>:user/<name>`.
pub fn user_arn(caller: &Caller) -> String {
    format!(
        "arn:aws:iam::{}:user/{}",
        caller.account_number, caller.user_name
    )
}

fn known_params(action: &str) -> &'static [&'static str] {
    STS_INPUT_PARAMS
        .iter()
        .find(|(name, _)| *name == action)
        .map(|(_, params)| *params)
        .unwrap_or(&[])
}

/// Answers one STS action for an authenticated caller.
pub fn run(
    caller: &Caller,
    action: &str,
    params: Params,
    request_id: &str,
) -> Result<String, Ec2Error> {
    match action {
        GET_CALLER_IDENTITY => {
            params.finish(known_params(GET_CALLER_IDENTITY))?;
            Ok(render_caller_identity(caller, request_id))
        }
        other if STS_OPERATIONS.binary_search(&other).is_ok() => Err(Ec2Error::new(
            Code::UnsupportedOperation,
            format!(
                "Cirrus does not serve the STS action {other}: it issues no temporary \
                 credentials; sign with an access key of your user instead."
            ),
        )),
        other => Err(Ec2Error::new(
            Code::InvalidAction,
            format!("The action {other} is not valid for this web service."),
        )),
    }
}

pub fn render_caller_identity(caller: &Caller, request_id: &str) -> String {
    let mut w = xml::Writer::with_capacity(512);
    w.open_with_ns("GetCallerIdentityResponse", NAMESPACE);
    w.open("GetCallerIdentityResult");
    w.text_element("Arn", &user_arn(caller));
    w.text_element("UserId", &caller.user_id);
    w.text_element("Account", &caller.account_number);
    w.close("GetCallerIdentityResult");
    w.open("ResponseMetadata");
    w.text_element("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close("GetCallerIdentityResponse");
    w.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            access_key: "CKX".into(),
            account_id: "a-uuid".into(),
            account_number: "123456789012".into(),
            account_name: "admin".into(),
            user_id: "u-uuid".into(),
            user_name: "admin".into(),
            is_admin: true,
        }
    }

    #[test]
    fn caller_identity() {
        let text = run(&caller(), "GetCallerIdentity", Params::default(), "rid").unwrap();
        assert_eq!(
            text,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetCallerIdentityResponse xmlns=\
             \"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:\
             iam::123456789012:user/admin</Arn><UserId>u-uuid</UserId><Account>123456789012\
             </Account></GetCallerIdentityResult><ResponseMetadata><RequestId>rid</RequestId>\
             </ResponseMetadata></GetCallerIdentityResponse>"
        );
    }

    #[test]
    fn other_actions() {
        let cases = [
            ("AssumeRole", Code::UnsupportedOperation),
            ("GetSessionToken", Code::UnsupportedOperation),
            ("DescribeInstances", Code::InvalidAction),
        ];
        for (action, code) in cases {
            let e = run(&caller(), action, Params::default(), "r").unwrap_err();
            assert_eq!(e.code, code, "{action}");
            assert!(e.message.contains(action));
        }
        let extra = Params::from_pairs(&[("Bogus", "1")]);
        let e = run(&caller(), "GetCallerIdentity", extra, "r").unwrap_err();
        assert_eq!(e.code, Code::UnknownParameter);
    }
}
