//! `engagement keys generate` and `engagement credentials verify`: the key
//! a deployment signs its members' Open Badges credentials with, and how
//! anyone checks a credential.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::credentials::{Issuer, VC_JWT, Verified, generate_pem, verify_jws};
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
    /// the key is the issuer's, the issuer, and the fields Open Badges 3.0
    /// requires; prints what it asserts. FILE holds the compact JWS (a
    /// `.jwt` download), or JSON carrying it under "jwt" (an entry of GET
    /// /v1/members/{m}/credentials). Whose key: with --online the one the
    /// issuer publishes; with --issuer a saved copy of the issuer's profile
    /// (GET /ob/issuer); else this deployment's (ENGAGEMENT_PUBLIC_URL and
    /// ENGAGEMENT_SIGNING_KEY).
    Verify {
        file: PathBuf,
        /// Ask the issuer for its key and whether the member still holds
        /// the badge.
        #[arg(long)]
        online: bool,
        /// The issuer's profile as GET /ob/issuer gave it, to check
        /// against offline.
        #[arg(long, conflicts_with = "online")]
        issuer: Option<PathBuf>,
        #[command(flatten)]
        settings: Box<Settings>,
    },
}

/// Whose key a credential is checked against.
#[derive(Debug, Clone)]
pub enum KeyOf {
    /// The issuer's, as it publishes it now; and it is asked whether it
    /// still holds the credential.
    Online,
    /// The issuer's profile as saved from `GET /ob/issuer`.
    Profile(Value),
    /// This deployment's: its public address and signing key.
    Deployment {
        public_url: String,
        signing_key: String,
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
            issuer,
            settings,
        } => {
            let key_of = match (online, issuer, &settings.public_url, &settings.signing_key) {
                (true, _, _, _) => KeyOf::Online,
                (false, Some(profile), _, _) => {
                    let text = std::fs::read_to_string(&profile)
                        .with_context(|| format!("cannot read {}", profile.display()))?;
                    KeyOf::Profile(serde_json::from_str(&text).with_context(|| {
                        format!("{} is not the issuer's profile (JSON)", profile.display())
                    })?)
                }
                (false, None, Some(url), Some(key)) => KeyOf::Deployment {
                    public_url: url.clone(),
                    signing_key: key.clone(),
                },
                (false, None, _, _) => bail!(
                    "no issuer key to check against: use --online, --issuer PROFILE.json (saved from GET /ob/issuer), or set ENGAGEMENT_PUBLIC_URL and ENGAGEMENT_SIGNING_KEY"
                ),
            };
            out!("{}", verify(&file, &key_of)?);
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

/// Checks the credential in `file` against the issuer's key (see
/// [`KeyOf`]) and says what it asserts; why it is refused, otherwise. Runs
/// its own runtime for [`KeyOf::Online`]: call it outside one.
pub fn verify(file: &Path, key_of: &KeyOf) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let jws = jws_of(&text)?;
    let verified = verify_jws(&jws).map_err(|e| anyhow::anyhow!("refused: {e}"))?;
    let vc = &verified.credential;
    let issuer_id = vc["issuer"]["id"].as_str().unwrap_or_default().to_owned();
    match key_of {
        KeyOf::Online => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(check_online(&issuer_id, &verified))?;
        }
        KeyOf::Profile(profile) => published_by(profile, &issuer_id, &verified)?,
        KeyOf::Deployment {
            public_url,
            signing_key,
        } => {
            let issuer = Issuer::load(public_url, signing_key).map_err(anyhow::Error::msg)?;
            if issuer.id() != issuer_id {
                bail!(
                    "refused: issued by {}, not by this deployment's issuer {}",
                    printable(&issuer_id),
                    issuer.id()
                );
            }
            if verified.jwk != *issuer.jwk() {
                bail!("refused: signed by another key than the issuer's");
            }
        }
    }
    let subject = &vc["credentialSubject"];
    let text = |v: &Value| printable(v.as_str().unwrap_or_default());
    let mut said = format!("valid: {}\n", text(&vc["name"]));
    said += &format!("  {}\n", text(&vc["description"]));
    said += &format!(
        "  criteria: {}\n",
        text(&subject["achievement"]["criteria"]["narrative"])
    );
    said += &format!(
        "  issued by {} ({}), valid from {}\n",
        text(&vc["issuer"]["name"]),
        printable(&issuer_id),
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

/// Text from a credential as it may be printed: no control characters
/// (a forged credential must not rewrite the lines around it).
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The profile names the credential's issuer and publishes the key its
/// header carries.
fn published_by(profile: &Value, issuer_id: &str, verified: &Verified) -> anyhow::Result<()> {
    if profile["id"] != issuer_id {
        bail!(
            "refused: issued by {}, not by the issuer of this profile ({})",
            printable(issuer_id),
            printable(&profile["id"].to_string())
        );
    }
    let published = (profile["verificationMethod"]
        .as_array()
        .into_iter()
        .flatten())
    .any(|m| m["publicKeyJwk"] == verified.jwk);
    if !published {
        bail!("refused: signed by a key the issuer does not publish");
    }
    Ok(())
}

/// Largest answer read from an issuer.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// GET `url` (no redirects, 15 s, at most [`MAX_ANSWER_BYTES`]): its status
/// and body.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
    accept: &str,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut res = client
        .get(url)
        .header(reqwest::header::ACCEPT, accept)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", printable(url)))?;
    let status = res.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            bail!(
                "{} answered more than {MAX_ANSWER_BYTES} bytes",
                printable(url)
            );
        }
    }
    Ok((status, body))
}

/// The key is the one the issuer publishes, and the issuer still holds this
/// credential: it serves one with the same id, subject, achievement and
/// grant time (its wording may have changed since: a renamed member or
/// badge, a reworded rule). Only addresses under the issuer's are asked.
async fn check_online(issuer_id: &str, verified: &Verified) -> anyhow::Result<()> {
    let Some(base) = issuer_id.strip_suffix("/ob/issuer") else {
        bail!(
            "refused: the issuer {} is not an address this check can ask",
            printable(issuer_id)
        );
    };
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        bail!(
            "refused: the issuer {} is not an http(s) address",
            printable(issuer_id)
        );
    }
    let client = crate::http_client()
        .timeout(std::time::Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (status, body) = fetch(&client, issuer_id, "application/json").await?;
    if status != 200 {
        bail!(
            "cannot read the issuer's profile at {}: {status}",
            printable(issuer_id)
        );
    }
    let profile: Value =
        serde_json::from_slice(&body).context("the issuer's profile is not JSON")?;
    published_by(&profile, issuer_id, verified)?;
    let id = verified.credential["id"].as_str().unwrap_or_default();
    if !id.starts_with(&format!("{base}/")) {
        bail!(
            "refused: the credential's id {} is not under its issuer's address",
            printable(id)
        );
    }
    let (status, body) = fetch(&client, id, VC_JWT).await?;
    match status {
        200 => {}
        404 | 410 => bail!("refused: the issuer does not hold this credential ({status})"),
        other => bail!("cannot ask the issuer for this credential: {other}"),
    }
    let current = verify_jws(&String::from_utf8_lossy(&body))
        .map_err(|e| anyhow::anyhow!("the issuer's copy does not verify: {e}"))?;
    let same = |path: &[&str]| {
        let pick = |v: &Value| path.iter().fold(v.clone(), |v, k| v[*k].clone());
        pick(&current.credential) == pick(&verified.credential)
    };
    let held = same(&["id"])
        && same(&["validFrom"])
        && same(&["issuer", "id"])
        && same(&["credentialSubject", "achievement", "id"])
        && same(&["credentialSubject", "identifier"]);
    if !held {
        bail!("refused: the issuer holds another credential under this id");
    }
    Ok(())
}
