//! `engagement keys generate` and `engagement credentials verify`: the key
//! a deployment signs its members' Open Badges credentials with, and how
//! anyone checks a credential.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::credentials::{Issuer, VC_JWT, generate_pem, verify_jws};
use crate::settings::Settings;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Writes a new P-256 private key (PKCS#8 PEM, readable by its owner
    /// only) for ENGAGEMENT_SIGNING_KEY. An existing file is never replaced.
    Generate {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum CredentialsCommand {
    /// Checks a credential: its signature with the key in its header, that
    /// the key is the issuer's (the configured ENGAGEMENT_SIGNING_KEY, or
    /// with --online the key the issuer publishes), the issuer, and the
    /// fields Open Badges 3.0 requires; prints what it asserts. FILE holds
    /// the compact JWS (a `.jwt` download), or JSON carrying it under
    /// "jwt" (an entry of GET /v1/members/{m}/credentials).
    Verify {
        file: PathBuf,
        /// Ask the issuer for its key and whether the member still holds
        /// the badge.
        #[arg(long)]
        online: bool,
        #[command(flatten)]
        settings: Box<Settings>,
    },
}

pub(super) fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { out } => generate(&out),
    }
}

fn generate(out: &Path) -> anyhow::Result<()> {
    let pem = generate_pem().map_err(anyhow::Error::msg)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(out).with_context(|| {
        format!(
            "cannot write {} (an existing key is never replaced)",
            out.display()
        )
    })?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    eprintln!(
        "wrote a P-256 signing key to {}: set ENGAGEMENT_SIGNING_KEY={} and keep it secret",
        out.display(),
        out.display()
    );
    Ok(())
}

pub(super) fn credentials(command: CredentialsCommand) -> anyhow::Result<()> {
    match command {
        CredentialsCommand::Verify {
            file,
            online,
            settings,
        } => {
            let said = verify(
                &file,
                online,
                settings.public_url.as_deref(),
                settings.signing_key.as_deref(),
            )?;
            print!("{said}");
            Ok(())
        }
    }
}

/// The compact JWS a file holds.
fn jws_of(text: &str) -> anyhow::Result<String> {
    let text = text.trim();
    if !text.starts_with('{') && !text.starts_with('"') {
        return Ok(text.to_owned());
    }
    let json: Value = serde_json::from_str(text).context("the file is neither a JWS nor JSON")?;
    match &json {
        Value::String(jws) => Ok(jws.clone()),
        _ => match json["jwt"].as_str() {
            Some(jws) => Ok(jws.to_owned()),
            None => bail!(
                "this JSON carries no signature: verify the credential's .jwt, or an entry of GET /v1/members/{{member}}/credentials (it carries one under \"jwt\")"
            ),
        },
    }
}

/// Checks the credential in `file` against the issuer's key (`public_url`
/// and `signing_key` as configured, or with `online` the key the issuer
/// publishes) and says what it asserts; why it is refused, otherwise. Runs
/// its own runtime for `online`: call it outside one.
pub fn verify(
    file: &Path,
    online: bool,
    public_url: Option<&str>,
    signing_key: Option<&str>,
) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let jws = jws_of(&text)?;
    let verified = verify_jws(&jws).map_err(|e| anyhow::anyhow!("refused: {e}"))?;
    let vc = &verified.credential;
    let issuer_id = vc["issuer"]["id"].as_str().unwrap_or_default().to_owned();
    if online {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(check_online(&issuer_id, &jws, &verified))?;
    } else {
        let (Some(url), Some(key)) = (public_url, signing_key) else {
            bail!(
                "no issuer key to check against: set ENGAGEMENT_PUBLIC_URL and ENGAGEMENT_SIGNING_KEY, or use --online"
            );
        };
        let issuer = Issuer::load(url, key).map_err(anyhow::Error::msg)?;
        if issuer.id() != issuer_id {
            bail!(
                "refused: issued by {issuer_id}, not by this deployment's issuer {}",
                issuer.id()
            );
        }
        if verified.jwk != *issuer.jwk() {
            bail!("refused: signed by another key than the issuer's");
        }
    }
    let subject = &vc["credentialSubject"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut said = format!("valid: {}\n", text(&vc["name"]));
    said += &format!("  {}\n", text(&vc["description"]));
    said += &format!(
        "  criteria: {}\n",
        text(&subject["achievement"]["criteria"]["narrative"])
    );
    said += &format!(
        "  issued by {} ({issuer_id}), valid from {}\n",
        text(&vc["issuer"]["name"]),
        text(&vc["validFrom"])
    );
    let identity = &subject["identifier"][0];
    if identity["identityHash"].is_string() {
        said += &format!(
            "  to the member whose id, with salt {}, hashes to {}\n",
            text(&identity["salt"]),
            text(&identity["identityHash"])
        );
    }
    Ok(said)
}

/// The key is the one the issuer publishes, and the issuer still serves
/// this very credential (the member holds the badge).
async fn check_online(
    issuer_id: &str,
    jws: &str,
    verified: &crate::credentials::Verified,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()?;
    let profile: Value = (client.get(issuer_id).send().await)
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("cannot read the issuer's profile at {issuer_id}"))?
        .json()
        .await
        .context("the issuer's profile is not JSON")?;
    if profile["id"] != issuer_id {
        bail!(
            "refused: the profile at {issuer_id} is another issuer's ({})",
            profile["id"]
        );
    }
    let published = profile["verificationMethod"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["publicKeyJwk"] == verified.jwk);
    if !published {
        bail!("refused: signed by a key the issuer does not publish");
    }
    let id = verified.credential["id"].as_str().unwrap_or_default();
    let res = client
        .get(id)
        .header(reqwest::header::ACCEPT, VC_JWT)
        .send()
        .await
        .with_context(|| format!("cannot ask the issuer for {id}"))?;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "refused: the issuer does not hold this credential ({status}: {})",
            body.trim()
        );
    }
    if body.trim() != jws.trim() {
        bail!("refused: the issuer's copy of this credential differs");
    }
    Ok(())
}
