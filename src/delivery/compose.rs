//! Compose: each person's stages of the day put into one mail (RULES 14).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;

use super::{DeliveryError, sending_window};
use crate::clock::Now;
use crate::config::Config;
use crate::domain::Email;
use crate::mail;
use crate::store::{Bundling, NewBundle, NewMail, Store};

/// At most this many sections in full in one mail of the day; the rest are
/// listed by their headline (a catch-up after years must stay readable, and
/// a round of bundling holds little).
const FULL_SECTIONS: usize = 10;

/// People whose mails of the day are made and written in one transaction.
const BUNDLE_PEOPLE: usize = 50;

/// Puts each person's reminder items of the day into one mail (RULES 14 per
/// person and day): a stage superseded by a later one of the same checkpoint
/// is dropped, an unsent mail whose contents changed is replaced, and every
/// item is carried by exactly one mail. Runs inside the sending window only.
pub async fn bundle(cfg: &Config, store: &Store, now: &Now) -> Result<u64, DeliveryError> {
    if sending_window(cfg, now).is_err() {
        return Ok(0);
    }
    let recipients = store.item_recipients(now.today).await?;
    let mut made = 0;
    for batch in recipients.chunks(BUNDLE_PEOPLE) {
        let items = store.pending_items(batch, now.today).await?;
        let mut by_person: BTreeMap<&str, Vec<&crate::store::PendingItem>> = BTreeMap::new();
        for i in &items {
            by_person.entry(i.recipient.as_str()).or_default().push(i);
        }
        let mut round = Bundling::default();
        for (recipient, items) in by_person {
            let Some(keep) = choose(&items, &mut round) else {
                continue;
            };
            if keep.is_empty() {
                continue;
            }
            let full: Vec<i64> = keep.iter().take(FULL_SECTIONS).map(|i| i.id).collect();
            let stored = store.sections(&full).await?;
            let feed = feed_link(cfg, store, recipient).await?;
            compose(cfg, now, recipient, &keep, &stored, feed, &mut round);
        }
        made += store.write_bundles(&round, now.instant).await?;
    }
    Ok(made)
}

/// The person's calendar subscription, with the pages on; not for
/// IOP-ansvarig and the advisory mailbox, who hold no entries.
async fn feed_link(
    cfg: &Config,
    store: &Store,
    recipient: &str,
) -> Result<Option<String>, DeliveryError> {
    let Ok(email) = Email::parse(recipient) else {
        return Ok(None);
    };
    let coordinating = email == cfg.roles.iop_ansvarig.email
        || cfg
            .roles
            .advisory
            .as_ref()
            .is_some_and(|a| a.email == email);
    if coordinating || cfg.web.public_url.is_none() || cfg.web.link_secret.is_none() {
        return Ok(None);
    }
    Ok(crate::web::feed_link_current(cfg, store, &email).await?)
}

/// One person's round: the items a later stage superseded (into `round`),
/// the unsent mails to replace, and the items the new mail carries, worst
/// first; `None` when one unsent mail already carries exactly these.
fn choose<'a>(
    items: &[&'a crate::store::PendingItem],
    round: &mut Bundling,
) -> Option<Vec<&'a crate::store::PendingItem>> {
    // Items come oldest first: the last of each checkpoint is its latest stage.
    let mut latest: HashMap<&str, i64> = HashMap::new();
    for i in items {
        latest.insert(i.checkpoint_key.as_str(), i.id);
    }
    let mut keep = Vec::new();
    for i in items {
        if latest.get(i.checkpoint_key.as_str()) == Some(&i.id) {
            keep.push(*i);
        } else {
            round.superseded.push(i.id);
        }
    }
    let current: HashSet<&str> = items.iter().filter_map(|i| i.bundle.as_deref()).collect();
    if keep.len() == items.len() && current.len() == 1 && keep.iter().all(|i| i.bundle.is_some()) {
        return None;
    }
    round
        .dissolved
        .extend(current.iter().map(|k| k.to_string()));
    keep.sort_by(|a, b| (a.rank, a.due, &a.headline).cmp(&(b.rank, b.due, &b.headline)));
    Some(keep)
}

/// The new mail of the day for `keep` (worst first), the first
/// [`FULL_SECTIONS`] in full from `stored`, the rest by their headline.
#[allow(clippy::too_many_arguments)]
fn compose(
    cfg: &Config,
    now: &Now,
    recipient: &str,
    keep: &[&crate::store::PendingItem],
    stored: &HashMap<i64, Vec<u8>>,
    feed: Option<String>,
    round: &mut Bundling,
) {
    let mut sections = Vec::new();
    let mut carried = Vec::new();
    for i in keep.iter().take(FULL_SECTIONS) {
        let parsed = stored
            .get(&i.id)
            .ok_or_else(|| "no stored section".to_string())
            .and_then(|b| serde_json::from_slice::<mail::Section>(b).map_err(|e| e.to_string()));
        match parsed {
            Ok(s) => {
                sections.push(s);
                carried.push(*i);
            }
            Err(e) => round.failed.push((
                i.id,
                format!("the stored section of this reminder cannot be read: {e}"),
            )),
        }
    }
    let more: Vec<&crate::store::PendingItem> = keep.iter().skip(FULL_SECTIONS).copied().collect();
    carried.extend(&more);
    if carried.is_empty() {
        return;
    }
    let mut keys: Vec<&str> = carried.iter().map(|i| i.key.as_str()).collect();
    keys.sort_unstable();
    let key = bundle_key(recipient, now.today, &keys);
    let content = DayContent {
        late: carried.iter().any(|i| i.late),
        recipient,
        envelope_to: &carried[0].envelope_to,
        sections,
        more: more.iter().map(|i| i.headline.clone()).collect(),
        keys: &keys,
        key: &key,
        feed_link: feed,
    };
    match day_mail(cfg, now, content) {
        Ok(mail) => round.bundles.push(NewBundle {
            mail,
            items: carried.iter().map(|i| i.id).collect(),
        }),
        Err(e) => {
            for i in &carried {
                round
                    .failed
                    .push((i.id, format!("cannot build the mail of the day: {e}")));
            }
        }
    }
}

/// What one mail of the day holds.
struct DayContent<'a> {
    /// One of its stages goes out after its day (downtime).
    late: bool,
    recipient: &'a str,
    envelope_to: &'a str,
    sections: Vec<mail::Section>,
    more: Vec<String>,
    keys: &'a [&'a str],
    key: &'a str,
    feed_link: Option<String>,
}

/// `day|{date}|{recipient}|{digest of the items' keys}`: the same contents on
/// the same day give the same key and Message-ID.
fn bundle_key(recipient: &str, day: NaiveDate, keys: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(keys.join("\n").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("day|{day}|{recipient}|{hex}")
}

fn day_mail(cfg: &Config, now: &Now, c: DayContent<'_>) -> Result<NewMail, DeliveryError> {
    let DayContent {
        late,
        recipient,
        envelope_to,
        sections,
        more,
        keys,
        key,
        feed_link,
    } = c;
    let map_err = |source| DeliveryError::Mail {
        key: key.to_string(),
        source,
    };
    let bad =
        |what: &str| DeliveryError::Transport(format!("{what} {recipient:?} is not an address"));
    let to = Email::parse(recipient).map_err(|_| bad("recipient"))?;
    let envelope = Email::parse(envelope_to).map_err(|_| bad("envelope recipient"))?;
    let name = sections.iter().find_map(|s| s.name.clone());
    let day = mail::Day {
        body_name: cfg.body.name.clone(),
        name: name.clone(),
        sections,
        more,
        coordinator: (&cfg.roles.iop_ansvarig).into(),
        feed_link,
        redirected_from: if cfg.mail.redirect_all_to.is_some() {
            vec![to.clone()]
        } else {
            Vec::new()
        },
    };
    let rendered = mail::render_day(&day).map_err(map_err)?;
    let env = mail::Envelope {
        from: cfg.sender(),
        to: vec![mail::Person {
            name,
            email: envelope.clone(),
        }],
        cc: Vec::new(),
        outbox_key: Some(key.to_string()),
        items: keys.iter().map(|k| k.to_string()).collect(),
    };
    let message_id = mail::message_id(key, &cfg.mail.from);
    let msg = mail::build(&env, &rendered, None, &message_id, now.instant).map_err(map_err)?;
    Ok(NewMail {
        key: key.to_string(),
        checkpoint_key: String::new(),
        partnership_id: String::new(),
        kind: "reminders".into(),
        stage: "bundle".into(),
        due: now.today,
        recipient: to.to_string(),
        envelope_to: envelope.to_string(),
        send_on: now.today,
        late,
        message_id,
        subject: rendered.subject,
        message: msg.formatted(),
        failed: None,
        item: false,
        rank: 0,
    })
}
