//! A queue on SQS (standard or FIFO, told apart by the `.fifo` URL suffix).

use super::sdk_error;
use crate::ports::{OutMessage, PortResult, Queue, Received};
use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use std::time::Duration;

/// One SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    fifo: bool,
}

impl SqsQueue {
    /// A client from the shared SDK configuration.
    pub fn from_config(config: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self::new(aws_sdk_sqs::Client::new(config), url)
    }

    pub fn new(client: Client, url: impl Into<String>) -> Self {
        let url = url.into();
        let fifo = url.ends_with(".fifo");
        Self { client, url, fifo }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// One `SendMessageBatch` request; the entries it refused, by their index in `entries`,
    /// with SQS's code and whether the fault is ours.
    async fn send_chunk(
        &self,
        entries: &[(usize, &OutMessage)],
    ) -> PortResult<Vec<(usize, String, bool)>> {
        let mut request = self.client.send_message_batch().queue_url(&self.url);
        for (i, m) in entries {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(m.body.clone());
            if self.fifo {
                entry = entry
                    .message_group_id(m.group_id.clone().unwrap_or_else(|| "default".into()))
                    .set_message_deduplication_id(m.dedup_id.clone());
            }
            let entry = entry
                .build()
                .map_err(|e| crate::ports::PortError::Unavailable(e.to_string()))?;
            request = request.entries(entry);
        }
        let out = request
            .send()
            .await
            .map_err(|e| sdk_error("sqs send batch", e))?;
        Ok(out
            .failed()
            .iter()
            .filter_map(|f| {
                let i = f.id().parse().ok()?;
                Some((i, f.code().to_owned(), f.sender_fault()))
            })
            .collect())
    }
}

/// The most entries one `SendMessageBatch` takes.
pub const MAX_BATCH: usize = 10;

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, m: OutMessage) -> PortResult<()> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(m.body);
        if self.fifo {
            request = request
                .message_group_id(m.group_id.unwrap_or_else(|| "default".into()))
                .set_message_deduplication_id(m.dedup_id);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("sqs send", e))
    }

    async fn receive(&self, max: u32, visibility: Duration) -> PortResult<Vec<Received>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(visibility.as_secs().max(1) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sdk_error("sqs receive", e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Some(Received {
                    id: m.message_id?,
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect())
    }

    /// `SendMessageBatch`, ten entries a request; entries SQS refuses for a reason of its
    /// own (throttling, an internal error) are sent once more, then reported.
    async fn send_batch(&self, messages: Vec<OutMessage>) -> PortResult<()> {
        for chunk in messages.chunks(MAX_BATCH) {
            let mut pending: Vec<(usize, &OutMessage)> = chunk.iter().enumerate().collect();
            for attempt in 0..2 {
                let failed = self.send_chunk(&pending).await?;
                if failed.is_empty() {
                    break;
                }
                let retryable = failed.iter().all(|(_, _, sender_fault)| !sender_fault);
                if attempt == 1 || !retryable {
                    let reasons: Vec<String> =
                        failed.into_iter().map(|(_, code, _)| code).collect();
                    return Err(crate::ports::PortError::Unavailable(format!(
                        "sqs send batch: {} message(s) not sent: {}",
                        reasons.len(),
                        reasons.join(", ")
                    )));
                }
                let again: std::collections::HashSet<usize> =
                    failed.iter().map(|(i, _, _)| *i).collect();
                pending.retain(|(i, _)| again.contains(i));
            }
        }
        Ok(())
    }

    async fn ack(&self, receipt: &str) -> PortResult<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("sqs delete", e))
    }
}
