//! Checks of the `[openbadges]` section: who issues the members' Open
//! Badges credentials.

use super::super::OpenBadges;
use super::super::checker::{Checker, S};
use super::super::raw::RawOpenBadges;

impl Checker<'_> {
    pub(in crate::rules) fn openbadges(&mut self, raw: &RawOpenBadges) -> Option<OpenBadges> {
        let name = raw.issuer_name.get_ref().trim();
        let mut ok = true;
        if name.is_empty() || name.len() > 200 {
            self.error(raw.issuer_name.span(), "issuer_name must be 1 to 200 bytes");
            ok = false;
        }
        ok &= self.web_address(&raw.url, "url");
        if let Some(image) = &raw.image {
            ok &= self.web_address(image, "image");
        }
        ok.then(|| OpenBadges {
            issuer_name: name.to_owned(),
            url: raw.url.get_ref().clone(),
            image: raw.image.as_ref().map(|i| i.get_ref().clone()),
        })
    }

    /// An absolute http(s) address without spaces, as credentials carry it.
    pub(in crate::rules) fn web_address(&mut self, value: &S<String>, field: &str) -> bool {
        let v = value.get_ref();
        let rest = v
            .strip_prefix("https://")
            .or_else(|| v.strip_prefix("http://"));
        let ok = rest.is_some_and(|r| {
            !r.is_empty() && !r.starts_with('/') && !r.chars().any(char::is_whitespace)
        }) && v.len() <= 2000;
        if !ok {
            self.error(
                value.span(),
                format!("{field} must be an http:// or https:// address, e.g. \"https://community.example.org\""),
            );
        }
        ok
    }
}
