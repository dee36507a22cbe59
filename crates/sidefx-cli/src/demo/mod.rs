//! The demos of the original starter, and one per crash point the port makes safe: create a run
//! that fails or crashes on purpose, follow its timeline live, then check the exactly-once proof.

mod args;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use sidefx_core::{BusinessKey, FailMode, RunId, RunRequest, RunStatus};

use crate::api_client::{ApiClient, Attempts, api_url};
use crate::charge_proof;
use crate::proof::{Evidence, Verdict, charge_id};
use crate::stack::DataDir;
use crate::timeline::{self, RunEnd};
use crate::ui::Style;
pub use args::DemoArgs;

/// How often the proof is re-read while the run finishes.
const PROOF_POLL: Duration = Duration::from_millis(250);
/// After `run.completed`, the debug views get at least this long to agree.
const PROOF_GRACE: Duration = Duration::from_secs(5);

/// A demo: what to break, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// One forced failure before the side effect, then a retry that succeeds.
    Run,
    /// Crash after the side effect, before the ack: DriftQ redelivers, the effect is skipped.
    Crash,
    /// Crash after claiming the effect, before doing it: the claim's lease expires and is taken over.
    CrashAfterClaim,
    /// Crash after the effect, before marking it done: the ticket proves it, the row is healed.
    CrashBeforeMarkDone,
    /// Crash after marking it done, before the ack: the redelivery finds it done and skips it.
    CrashAfterMarkDone,
}

impl Scenario {
    /// Where the worker crashes on purpose.
    fn fail_mode(self) -> FailMode {
        match self {
            Scenario::Run => FailMode::None,
            Scenario::Crash => FailMode::CrashAfterEffectBeforeAck,
            Scenario::CrashAfterClaim => FailMode::CrashAfterClaimBeforeEffect,
            Scenario::CrashBeforeMarkDone => FailMode::CrashAfterEffectBeforeMarkDone,
            Scenario::CrashAfterMarkDone => FailMode::CrashAfterMarkDoneBeforeAck,
        }
    }

    fn headline(self) -> &'static str {
        match self {
            Scenario::Run => "🟢 Retry demo: one failure before the side effect, then success.",
            Scenario::Crash => {
                "🧨 Crash demo: the side effect is done, then the worker crashes before the ack."
            }
            Scenario::CrashAfterClaim => {
                "🧨 Crash demo: the worker claims the effect, then crashes before doing it."
            }
            Scenario::CrashBeforeMarkDone => {
                "🧨 Crash demo: the worker does the effect, then crashes before marking it done."
            }
            Scenario::CrashAfterMarkDone => {
                "🧨 Crash demo: the worker marks the effect done, then crashes before the ack."
            }
        }
    }

    /// The request body of `POST /runs`.
    fn request(self, business_key: BusinessKey) -> RunRequest {
        RunRequest {
            business_key,
            amount: 42.0,
            fail_before_effect_n: u32::from(self == Scenario::Run),
            fail_mode: self.fail_mode(),
            max_attempts: 5,
        }
    }
}

/// A fresh business key per demo: `order-<unix seconds>-<random>`, so reruns never collide.
pub fn business_key() -> Result<BusinessKey> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let key = format!("order-{secs}-{:06x}", rand::random::<u32>() & 0xff_ffff);
    Ok(BusinessKey::parse(&key)?)
}

/// `sidefx demo <scenario>`.
pub async fn run(dir: &DataDir, args: &DemoArgs, style: Style) -> Result<()> {
    let api = api_url(args.api.as_deref(), dir)?;
    let client = args.admin.client(&api)?;
    if let Err(why) =
        crate::health::probe(&crate::health::probe_client()?, &format!("{api}/healthz")).await
    {
        bail!(
            "the API at {api} is not healthy ({why}): start the stack with `sidefx up`, or pass --api"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let key = business_key()?;
    println!("{}", style.bold(args.scenario.headline()));
    // The key makes a retried POST (a 503, a dropped connection) return the same run.
    let idempotency_key = format!("demo-{key}");
    let request = args.scenario.request(key.clone());
    let created = client
        .create_run(&request, &idempotency_key, &mut Attempts::default())
        .await?;
    let run_id = created.run_id;
    println!("   business_key = {key}");
    println!("   run_id       = {run_id}");
    println!(
        "{}",
        style.dim(&format!(
            "   events (SSE): curl -N '{api}/runs/{run_id}/events'"
        ))
    );
    println!("\n{}", style.bold("Timeline"));
    let how = timeline::Follow {
        deadline,
        lease: Duration::from_millis(args.lease_ms),
        style,
    };
    let followed = timeline::follow(&client, &run_id, how).await?;
    let end = followed.end;
    let evidence = settle(&client, &run_id, &key, &end, deadline).await?;
    report(&end, &evidence, args.timeout, style)?;
    // A charge receipt: the provider's ledger must agree (ticket runs have no such part).
    if let Some(row) = evidence.rows.iter().find(|r| charge_id(r).is_some()) {
        let provider = charge_proof::provider_url(args.provider_url.as_deref(), dir)?
            .unwrap_or_else(|| charge_proof::DEFAULT_PROVIDER.to_owned());
        charge_proof::check(&provider, row, &followed.kinds, style).await?;
    }
    Ok(())
}

/// Re-reads the proof until it holds, is violated, or time is up.
async fn settle(
    client: &ApiClient,
    run_id: &RunId,
    key: &BusinessKey,
    end: &RunEnd,
    deadline: Instant,
) -> Result<Evidence> {
    let deadline = deadline.max(Instant::now() + PROOF_GRACE);
    loop {
        let evidence = Evidence::collect(client, run_id, key).await?;
        let settled = !matches!(evidence.verdict(), Verdict::Pending(_));
        if settled || *end != RunEnd::Completed || Instant::now() >= deadline {
            return Ok(evidence);
        }
        tokio::time::sleep(PROOF_POLL).await;
    }
}

/// Prints the proof; an error (exit status 1) unless it holds.
fn report(end: &RunEnd, evidence: &Evidence, timeout: u64, style: Style) -> Result<()> {
    println!("\n{}", style.bold("Proof"));
    let (yes, no) = (style.ok("✔"), style.err("✘"));
    match end {
        RunEnd::Completed => println!("  {yes} run completed"),
        RunEnd::DeadLettered(error) => println!("  {no} run dead-lettered: {error}"),
        RunEnd::Stopped(why) => println!("  {no} run stopped: {why}"),
        RunEnd::TimedOut => println!("  {no} run did not complete within {timeout}s"),
    }
    if let Some(status) = evidence.run_status {
        let mark = if status == RunStatus::Completed {
            &yes
        } else {
            &no
        };
        println!(
            "  {mark} run status in the durable registry: {}",
            status.as_str()
        );
    }
    let rows = evidence.rows.len();
    let mark = if rows == 1 { &yes } else { &no };
    println!("  {mark} side-effect rows for this run: {rows}");
    for row in &evidence.rows {
        let artifact = row.artifact_path.as_deref().unwrap_or("-");
        println!(
            "      {} status={} claims={} artifact={artifact}",
            row.effect_id,
            row.status.as_str(),
            row.attempts
        );
    }
    let tickets = evidence.tickets.len();
    let mark = if tickets == 1 { &yes } else { &no };
    println!("  {mark} ticket files for this business key: {tickets}");
    for ticket in &evidence.tickets {
        println!("      {} ({} bytes)", ticket.name, ticket.bytes);
    }
    match (end, evidence.verdict()) {
        (RunEnd::Completed, Verdict::Holds) => {
            println!("  {}", style.ok("exactly once: 1 row, 1 ticket"));
            Ok(())
        }
        (_, Verdict::Violated(why)) => bail!("the exactly-once proof is VIOLATED: {why}"),
        (RunEnd::Completed, Verdict::Pending(why)) => {
            bail!("the proof did not hold in time: {why}")
        }
        (_, _) => bail!("the run did not complete; check `sidefx logs worker`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_keys_are_fresh_and_well_formed() {
        let (a, b) = (business_key().unwrap(), business_key().unwrap());
        let (a, b) = (a.as_str(), b.as_str());
        assert_ne!(a, b);
        let parts: Vec<_> = a.split('-').collect();
        assert_eq!(parts.len(), 3, "{a}");
        assert_eq!(parts[0], "order");
        assert!(parts[1].parse::<u64>().unwrap() > 1_600_000_000);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn requests_match_the_original_demos() {
        let key = || BusinessKey::parse("k").unwrap();
        let run = serde_json::to_value(Scenario::Run.request(key())).unwrap();
        assert_eq!(
            run,
            serde_json::json!({"business_key":"k","amount":42.0,"fail_before_effect_n":1,"fail_mode":"none","max_attempts":5})
        );
        let crash = serde_json::to_value(Scenario::Crash.request(key())).unwrap();
        assert_eq!(crash["fail_before_effect_n"], 0);
        assert_eq!(crash["fail_mode"], "crash_after_effect_before_ack");
    }
}
