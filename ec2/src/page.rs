//! Pagination with `MaxResults` / `NextToken`. A token names the action and the position of the
//! next page and carries an HMAC tag under a key this process made at start, so a forged or
//! edited token, or one from another action, is refused rather than followed. The last page
//! carries no token (clients loop while one is present).
//!
//! LIMITATION: the key lives in the process, so tokens do not survive a restart and are not
//! shared between management servers; a client mid-listing then gets InvalidParameterValue and
//! starts over.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Code, Ec2Error};

const TAG_LEN: usize = 16;

/// What the client asked of one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
}

fn key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        k[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        k[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        k
    })
}

fn tag(action: &str, payload: &[u8]) -> [u8; TAG_LEN] {
    // HMAC takes keys of any length, so this constructor cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key()).unwrap_or_else(|_| unreachable!());
    mac.update(action.as_bytes());
    mac.update(&[0]);
    mac.update(payload);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&full[..TAG_LEN]);
    out
}

/// A token for `action` that carries `payload` (a position the door or the port chose).
pub fn seal(action: &str, payload: &[u8]) -> String {
    let mut raw = Vec::with_capacity(payload.len() + TAG_LEN);
    raw.extend_from_slice(payload);
    raw.extend_from_slice(&tag(action, payload));
    URL_SAFE_NO_PAD.encode(raw)
}

/// The payload of a token that [`seal`] made for `action`; anything else is refused.
pub fn open(action: &str, token: &str) -> Result<Vec<u8>, Ec2Error> {
    let invalid = || {
        Ec2Error::new(
            Code::InvalidParameterValue,
            format!(
                "The NextToken '{}' is not valid for {action}: pass the nextToken of the \
                 previous page unchanged.",
                token.chars().take(64).collect::<String>()
            ),
        )
    };
    let mut raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    if raw.len() < TAG_LEN {
        return Err(invalid());
    }
    let given = raw.split_off(raw.len() - TAG_LEN);
    if bool::from(tag(action, &raw).ct_eq(&given)) {
        Ok(raw)
    } else {
        Err(invalid())
    }
}

fn encode(action: &str, offset: u64) -> String {
    seal(action, &offset.to_be_bytes())
}

fn decode(action: &str, token: &str) -> Result<u64, Ec2Error> {
    let raw = open(action, token)?;
    let bytes: [u8; 8] = raw.as_slice().try_into().map_err(|_| {
        Ec2Error::new(
            Code::InvalidParameterValue,
            format!("The NextToken is not valid for {action}: it holds no page offset."),
        )
    })?;
    Ok(u64::from_be_bytes(bytes))
}

impl PageRequest {
    /// Cuts one page out of the full, stably ordered result; answers the page and the token of
    /// the next one, if any.
    pub fn cut<T>(
        &self,
        action: &str,
        mut items: Vec<T>,
    ) -> Result<(Vec<T>, Option<String>), Ec2Error> {
        let start = match &self.next_token {
            Some(t) if !t.is_empty() => decode(action, t)?,
            _ => 0,
        };
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(items.len());
        let Some(max) = self.max_results else {
            if start == 0 {
                return Ok((items, None));
            }
            return Ok((items.split_off(start), None));
        };
        let end = start.saturating_add(max).min(items.len());
        let next = (end < items.len()).then(|| encode(action, end as u64));
        items.truncate(end);
        Ok((items.split_off(start), next))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;

    #[test]
    fn pages_walk_to_the_end() {
        let all: Vec<u32> = (0..12).collect();
        let mut req = PageRequest {
            max_results: Some(5),
            next_token: None,
        };
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let (page, next) = req.cut("DescribeImages", all.clone()).unwrap();
            seen.extend(page);
            pages += 1;
            match next {
                Some(t) => req.next_token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, all);
        assert_eq!(pages, 3);
    }

    #[test]
    fn no_max_means_everything_and_no_token() {
        let req = PageRequest::default();
        let (page, next) = req.cut("X", vec![1, 2, 3]).unwrap();
        assert_eq!(page, [1, 2, 3]);
        assert_eq!(next, None);
        let exact = PageRequest {
            max_results: Some(3),
            next_token: None,
        };
        assert_eq!(exact.cut("X", vec![1, 2, 3]).unwrap().1, None);
    }

    #[test]
    fn forged_tokens_are_refused() {
        let good = encode("DescribeImages", 5);
        let other_action = PageRequest {
            max_results: Some(5),
            next_token: Some(good.clone()),
        };
        assert!(other_action.cut("DescribeInstances", vec![0; 10]).is_err());
        let mut raw = URL_SAFE_NO_PAD.decode(&good).unwrap();
        raw[7] ^= 1;
        for forged in [
            URL_SAFE_NO_PAD.encode(&raw),
            "garbage!".into(),
            "AAAA".into(),
        ] {
            let req = PageRequest {
                max_results: Some(5),
                next_token: Some(forged),
            };
            let e = req.cut("DescribeImages", vec![0; 10]).unwrap_err();
            assert_eq!(e.code, Code::InvalidParameterValue);
        }
    }
}
