//! Creates the table and queues the way `infra/template.yaml` declares them. Used by the
//! integration tests against moto; in AWS, CloudFormation does this.

use super::sdk_error;
use crate::ports::PortResult;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// Creates the single table (`pk`/`sk` strings, TTL on `ttl`).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> PortResult<()> {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    let build = |e: aws_sdk_dynamodb::error::BuildError| sdk_error("dynamodb build", e);
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk").map_err(build)?)
        .attribute_definitions(attr("sk").map_err(build)?)
        .key_schema(key("pk", KeyType::Hash).map_err(build)?)
        .key_schema(key("sk", KeyType::Range).map_err(build)?)
        .send()
        .await
        .map_err(|e| sdk_error("dynamodb create table", e))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(build)?,
        )
        .send()
        .await
        .map_err(|e| sdk_error("dynamodb ttl", e))?;
    Ok(())
}

/// Creates a queue and its DLQ (`max_receives` deliveries, then redrive). Returns
/// `(queue_url, dlq_url)`. FIFO when `name` ends in `.fifo`.
pub async fn create_queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: u32,
    visibility_secs: u32,
) -> PortResult<(String, String)> {
    let fifo = name.ends_with(".fifo");
    let dlq_name = match name.strip_suffix(".fifo") {
        Some(stem) => format!("{stem}-dlq.fifo"),
        None => format!("{name}-dlq"),
    };
    let mut dlq = client.create_queue().queue_name(&dlq_name);
    if fifo {
        dlq = dlq.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let dlq_url = dlq
        .send()
        .await
        .map_err(|e| sdk_error("sqs create dlq", e))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk_error("sqs dlq arn", e))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives});
    let mut queue = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_secs.to_string(),
        );
    if fifo {
        queue = queue.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let url = queue
        .send()
        .await
        .map_err(|e| sdk_error("sqs create queue", e))?
        .queue_url
        .unwrap_or_default();
    Ok((url, dlq_url))
}
