//! How a run's clients send: a [`Driver`] sends one operation and names it.
//! [`Calls`] drives the single-call [`Workload`]s (one submit or evaluate
//! per operation); a workload made of several calls per operation — the LoC
//! mix, where a loan application is a lock, three oracle verdicts and an
//! unlock — implements [`Driver`] itself.

use std::sync::Arc;

use anyhow::Context as _;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use weft_client::{ClientError, Contract};

use super::report::Outcome;
use super::workload::{Kind, Op, RunContext, Workload};
use crate::client_cmd::error_parts;

/// Sends the operations of a run.
pub(crate) trait Driver: Send + Sync {
    /// Sends operation `seq` (unique across the run) as client `client`
    /// and returns its report label with how it ended.
    fn send(&self, client: usize, seq: u64) -> BoxFuture<'_, (&'static str, Outcome)>;

    /// How long the gateway client `client` sends to asked to be sent no
    /// new work (after a 429): a closed-loop client waits that long rather
    /// than fail its next operations at once.
    fn hold(&self, _client: usize) -> Option<std::time::Duration> {
        None
    }
}

/// How a call ended, as the report counts it.
pub(crate) fn outcome(result: Result<(), ClientError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Ok,
        Err(e) => {
            let parts = error_parts(&e);
            Outcome::Failed {
                stage: parts.stage,
                code: parts.code,
            }
        }
    }
}

/// A [`Workload`] of single calls, spread over one contract per gateway.
pub(crate) struct Calls {
    workload: Arc<dyn Workload>,
    context: RunContext,
    contracts: Vec<Contract>,
}

impl Calls {
    /// Runs the workload's setup transactions, then returns the driver.
    pub(crate) async fn prepare(
        workload: Arc<dyn Workload>,
        context: RunContext,
        contracts: Vec<Contract>,
    ) -> anyhow::Result<Calls> {
        setup(&contracts, workload.setup(&context)).await?;
        Ok(Calls {
            workload,
            context,
            contracts,
        })
    }
}

impl Driver for Calls {
    fn send(&self, client: usize, seq: u64) -> BoxFuture<'_, (&'static str, Outcome)> {
        Box::pin(async move {
            let op = self.workload.next(&self.context, client, seq);
            let contract = &self.contracts[client % self.contracts.len()];
            (op.label, outcome(execute(contract, &op).await))
        })
    }

    fn hold(&self, client: usize) -> Option<std::time::Duration> {
        self.contracts[client % self.contracts.len()]
            .gateway()
            .hold()
    }
}

async fn execute(contract: &Contract, op: &Op) -> Result<(), ClientError> {
    let args: Vec<&str> = op.args.iter().map(String::as_str).collect();
    match op.kind {
        Kind::Submit => contract.submit(op.function, &args).await.map(drop),
        Kind::Evaluate => contract.evaluate(op.function, &args).await.map(drop),
    }
}

/// Setup transactions run this many at a time.
const SETUP_CONCURRENCY: usize = 64;

async fn setup(contracts: &[Contract], ops: Vec<Op>) -> anyhow::Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let total = ops.len();
    eprintln!("setup: {total} transactions");
    let mut results = futures::stream::iter(ops.into_iter().enumerate())
        .map(|(i, op)| {
            let contract = contracts[i % contracts.len()].clone();
            async move {
                execute(&contract, &op)
                    .await
                    .with_context(|| format!("setup {} {:?}", op.function, op.args))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY);
    while let Some(result) = results.next().await {
        result?;
    }
    Ok(())
}
