//! A queue on SQS (standard or FIFO, told apart by the `.fifo` URL suffix).

use super::sdk_error;
use crate::ports::{OutMessage, PortResult, Queue, Received};
use async_trait::async_trait;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use std::time::Duration;

/// Entries per `SendMessageBatch` / `DeleteMessageBatch` request (SQS's limit).
const SQS_BATCH_MAX: usize = 10;
/// Bytes of message bodies per `SendMessageBatch` request (SQS's classic limit, kept for
/// queues whose maximum message size was not raised).
const SQS_BATCH_BYTES: usize = 256 * 1024;

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
}

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

    async fn send_many(&self, messages: Vec<OutMessage>) -> PortResult<()> {
        // Ten entries and 256 KiB of bodies per request (SQS's limits). A FIFO batch keeps its
        // order within a group.
        let mut messages = messages.into_iter().peekable();
        while messages.peek().is_some() {
            let mut entries = Vec::with_capacity(SQS_BATCH_MAX);
            let mut bytes = 0usize;
            while let Some(m) = messages.next_if(|m| {
                entries.is_empty()
                    || (entries.len() < SQS_BATCH_MAX
                        && bytes.saturating_add(m.body.len()) <= SQS_BATCH_BYTES)
            }) {
                let i = entries.len();
                bytes = bytes.saturating_add(m.body.len());
                let mut entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body);
                if self.fifo {
                    entry = entry
                        .message_group_id(m.group_id.unwrap_or_else(|| "default".into()))
                        .set_message_deduplication_id(m.dedup_id);
                }
                entries.push(
                    entry
                        .build()
                        .map_err(|e| sdk_error("sqs send batch entry", e))?,
                );
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("sqs send batch", e))?;
            if let Some(failed) = out.failed.first() {
                // Never a silent drop: the caller retries the whole batch.
                return Err(crate::ports::PortError::Unavailable(format!(
                    "sqs send batch: {} of the batch failed (first: {} {})",
                    out.failed.len(),
                    failed.code,
                    failed.message.as_deref().unwrap_or("")
                )));
            }
        }
        Ok(())
    }

    async fn ack_many(&self, receipts: &[String]) -> PortResult<()> {
        for chunk in receipts.chunks(SQS_BATCH_MAX) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .map_err(|e| sdk_error("sqs delete batch entry", e))
                })
                .collect::<PortResult<Vec<_>>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("sqs delete batch", e))?;
            if let Some(failed) = out.failed.first() {
                return Err(crate::ports::PortError::Unavailable(format!(
                    "sqs delete batch: {} of the batch failed (first: {})",
                    out.failed.len(),
                    failed.code
                )));
            }
        }
        Ok(())
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
