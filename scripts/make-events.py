#!/usr/bin/env python3
"""Writes the sample events in events/ (run from the repo root; output is committed).

The signing secret is obviously fake and also lives in the tests that use these files:
    shpss_fake_secret_for_tests_only
"""
import base64, hashlib, hmac, json, pathlib

SECRET = b"shpss_fake_secret_for_tests_only"
SHOP = "demo-shop.myshopify.com"
EVENTS = pathlib.Path("events")


def address(first, last, street, city, zip_, country, province=None):
    return {"first_name": first, "last_name": last, "name": f"{first} {last}", "company": None,
            "address1": street, "address2": "", "city": city, "zip": zip_, "province": None,
            "province_code": province, "country": country, "country_code": country,
            "phone": "+353 1 555 0100", "latitude": 53.34, "longitude": -6.26}


def line(i, sku, qty, title, price):
    return {"id": 466157049 + i, "admin_graphql_api_id": f"gid://shopify/LineItem/{466157049 + i}",
            "variant_id": 39072856 + i, "product_id": 632910392 + i, "sku": sku, "quantity": qty,
            "fulfillable_quantity": qty, "fulfillment_service": "manual", "fulfillment_status": None,
            "requires_shipping": True, "taxable": True, "gift_card": False, "name": title,
            "title": title, "variant_title": "M / Black", "vendor": "Demo Apparel", "grams": 200,
            "price": price, "price_set": {"shop_money": {"amount": price, "currency_code": "EUR"},
                                           "presentment_money": {"amount": price, "currency_code": "EUR"}},
            "total_discount": "0.00", "tax_lines": [{"title": "VAT", "price": "2.30", "rate": 0.23}],
            "properties": [], "discount_allocations": []}


def order(order_id, number, lines, note=""):
    return {
        "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}", "number": number - 1000, "order_number": number,
        "email": "ada@example.com", "contact_email": "ada@example.com",
        "created_at": "2026-11-26T10:15:00+01:00", "updated_at": "2026-11-26T10:15:02+01:00",
        "processed_at": "2026-11-26T10:15:00+01:00", "cancelled_at": None, "cancel_reason": None,
        "closed_at": None, "confirmed": True, "currency": "EUR", "presentment_currency": "EUR",
        "financial_status": "paid", "fulfillment_status": None, "test": False,
        "total_price": "59.90", "subtotal_price": "49.90", "total_tax": "10.00",
        "total_discounts": "0.00", "total_weight": 600, "taxes_included": True,
        "note": note, "note_attributes": [], "tags": "", "source_name": "web",
        "browser_ip": "203.0.113.7", "landing_site": "/", "referring_site": "",
        "customer": {"id": 115310627314723954, "email": "ada@example.com", "first_name": "Ada",
                     "last_name": "Lovelace", "state": "enabled", "verified_email": True,
                     "tags": "", "currency": "EUR", "created_at": "2025-01-01T00:00:00+00:00"},
        "billing_address": address("Ada", "Lovelace", "1 Main Street", "Dublin", "D01 F5P2", "IE"),
        "shipping_address": address("Ada", "Lovelace", "1 Main Street", "Dublin", "D01 F5P2", "IE"),
        "shipping_lines": [{"id": 271878346596884015, "title": "Standard", "code": "Standard",
                            "price": "10.00", "source": "shopify", "carrier_identifier": None}],
        "line_items": lines,
        "discount_codes": [], "payment_gateway_names": ["shopify_payments"],
        "fulfillments": [], "refunds": [],
    }


def api_gateway(body: bytes, webhook_id: str, base64_body=False):
    sig = base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest()).decode()
    return {
        "version": "2.0", "routeKey": "POST /webhooks/{channel}", "rawPath": "/webhooks/shopify",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json", "user-agent": "Shopify-Captain-Hook",
            "x-shopify-hmac-sha256": sig, "x-shopify-shop-domain": SHOP,
            "x-shopify-topic": "orders/create", "x-shopify-api-version": "2026-10",
            "x-shopify-webhook-id": webhook_id,
            "x-shopify-event-id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
            "x-shopify-triggered-at": "2026-11-26T09:15:02.421Z",
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "abcdef1234", "domainName": "abcdef1234.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abcdef1234", "http": {"method": "POST", "path": "/webhooks/shopify", "protocol": "HTTP/1.1",
            "sourceIp": "34.0.0.1", "userAgent": "Shopify-Captain-Hook"}, "requestId": "req-1",
            "routeKey": "POST /webhooks/{channel}", "stage": "$default", "time": "26/Nov/2026:09:15:02 +0000",
            "timeEpoch": 1795684502000},
        "pathParameters": {"channel": "shopify"},
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }


WOO_SECRET = b"wooFakeSecretForTestsOnly0123456789abcd"
WOO_CONNECTION = "c_demo0000000000000woo"


def woocommerce_gateway(body: bytes, signed=True, content_type="application/json"):
    """An API Gateway event of a WooCommerce delivery to /webhooks/woocommerce/{connection}."""
    path = f"/webhooks/woocommerce/{WOO_CONNECTION}"
    headers = {"content-type": content_type,
               "user-agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)"}
    if signed:
        headers.update({
            "x-wc-webhook-signature": base64.b64encode(hmac.new(WOO_SECRET, body, hashlib.sha256).digest()).decode(),
            "x-wc-webhook-topic": "order.created", "x-wc-webhook-resource": "order",
            "x-wc-webhook-event": "created", "x-wc-webhook-id": "11",
            "x-wc-webhook-delivery-id": "4f1c2a9e0b7d4e3f8a6b5c4d3e2f1a0b",
            "x-wc-webhook-source": "https://shop.example.com/",
        })
    return {
        "version": "2.0", "routeKey": "POST /webhooks/{channel}/{connection}", "rawPath": path,
        "rawQueryString": "", "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abcdef1234", "domainName": "abcdef1234.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abcdef1234", "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
            "sourceIp": "34.0.0.2", "userAgent": headers["user-agent"]}, "requestId": "req-woo",
            "routeKey": "POST /webhooks/{channel}/{connection}", "stage": "$default", "time": "26/Nov/2026:09:15:02 +0000",
            "timeEpoch": 1795684502000},
        "pathParameters": {"channel": "woocommerce", "connection": WOO_CONNECTION},
        "body": body.decode(), "isBase64Encoded": False,
    }


def main():
    EVENTS.mkdir(exist_ok=True)
    woo_order = {"id": 727, "number": "727", "status": "processing", "currency": "EUR",
                 "date_created_gmt": "2026-11-26T09:14:58", "date_modified_gmt": "2026-11-26T09:15:01",
                 "date_paid_gmt": "2026-11-26T09:15:00",
                 "billing": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
                 "shipping": {"first_name": "Ada", "last_name": "Lovelace", "address_1": "969 Market",
                              "city": "San Francisco", "state": "CA", "postcode": "94103", "country": "US"},
                 "line_items": [{"id": 315, "product_id": 93, "variation_id": 94, "quantity": 2,
                                 "sku": "TS-001-M", "name": "Organic Tee - M"}]}
    woo_body = json.dumps(woo_order, separators=(",", ":")).encode()
    with open(EVENTS / "webhooks-woocommerce-order-created.json", "w") as f:
        json.dump(woocommerce_gateway(woo_body), f, indent=2)
    with open(EVENTS / "webhooks-woocommerce-ping.json", "w") as f:
        json.dump(woocommerce_gateway(b"webhook_id=11", signed=False,
                                      content_type="application/x-www-form-urlencoded"), f, indent=2)
    # A realistic order of about 5 KB: Shopify's own escaping (\/ and \u0026) kept as sent.
    lines = [line(i, f"TS-00{i + 1}", 1 + i % 2, f"Organic Tee {i + 1}", "24.95") for i in range(5)]
    body = json.dumps(order(5630201856307, 1042, lines, note="Leave at door \u0026 ring"),
                      separators=(",", ":"), ensure_ascii=True)
    body = body.replace("/", "\\/").replace("&", "\\u0026").encode()
    (EVENTS / "shopify-order-5kb.json").write_bytes(body)
    with open(EVENTS / "webhooks-shopify-orders-create.json", "w") as f:
        json.dump(api_gateway(body, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"), f, indent=2)
    with open(EVENTS / "webhooks-shopify-orders-create-base64.json", "w") as f:
        json.dump(api_gateway(body, "c6a11a55-59e3-4a1f-9d0b-6c4a0e1c9f10", base64_body=True), f, indent=2)

    # An SQS batch for order-import: a good event, the same order again, a line without SKU,
    # and a poison message.
    def channel_event(delivery, payload):
        return {"v": 1, "channel": "shopify", "tenant": "dev", "connection": "c_demo0000000000000001",
                "shop": SHOP, "topic": "orders/create", "delivery_id": delivery,
                "received_at": "2026-11-26T09:15:02.500Z", "payload": payload}
    first = json.loads(body)
    no_sku = order(5630201856308, 1043, [line(0, "TS-001", 1, "Organic Tee", "24.95"),
                                          dict(line(1, None, 1, "Custom print", "10.00"))])
    bodies = [
        json.dumps(channel_event("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", first)),
        json.dumps(channel_event("0a0f6b1e-retry-of-same-order", first)),
        json.dumps(channel_event("7d1c3e0f-no-sku", no_sku)),
        "{\"v\":1,\"channel\":\"shopify\",\"truncated",
    ]
    records = []
    for i, b in enumerate(bodies):
        records.append({
            "messageId": f"00000000-0000-4000-8000-00000000000{i + 1}", "receiptHandle": f"receipt-{i + 1}",
            "body": b, "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795684502500",
                                      "SenderId": "AROAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795684502600"},
            "messageAttributes": {}, "md5OfBody": hashlib.md5(b.encode()).hexdigest(),
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:channel-events",
            "awsRegion": "eu-west-1"})
    with open(EVENTS / "order-import-sqs-batch.json", "w") as f:
        json.dump({"Records": records}, f, indent=2)
    # The dashboard starting a Shopify install (oauth function).
    start = api_gateway(b'{"shop":"demo-shop.myshopify.com"}', "unused")
    start["routeKey"] = "POST /api/oauth/shopify/start"
    start["rawPath"] = start["requestContext"]["http"]["path"] = "/api/oauth/shopify/start"
    start["requestContext"]["routeKey"] = start["routeKey"]
    start["headers"] = {"content-type": "application/json", "authorization": "Bearer cs_fake_event_token"}
    start.pop("pathParameters")
    with open(EVENTS / "oauth-shopify-start.json", "w") as f:
        json.dump(start, f, indent=2)
    # The management API listing connections (api function).
    listing = api_gateway(b"", "unused")
    listing.update({"routeKey": "GET /api/connections", "rawPath": "/api/connections", "body": None, "isBase64Encoded": False})
    listing["requestContext"].update({"routeKey": "GET /api/connections"})
    listing["requestContext"]["http"].update({"method": "GET", "path": "/api/connections"})
    listing["headers"] = {"authorization": "Bearer cs_fake_event_token"}
    listing.pop("pathParameters")
    with open(EVENTS / "api-connections-list.json", "w") as f:
        json.dump(listing, f, indent=2)

    # EventBridge Scheduler's input for the scheduler function.
    for job in ("reconcile", "webhook-health", "products", "inventory-daily"):
        with open(EVENTS / f"scheduler-{job}.json", "w") as f:
            json.dump({"job": job}, f, indent=2)

    # An SQS batch for tracking-export: a shipment, a stock change, a poison message.
    wms = [
        json.dumps({"type": "shipment.dispatched", "tenant": "dev", "connection": "c_demo0000000000000001",
                    "channel_order_id": "5630201856307", "lines": [{"sku": "TS-002", "quantity": 2}],
                    "carrier": "DHL Express", "tracking_number": "JD014600003828",
                    "tracking_url": "https://track.example/JD014600003828"}),
        json.dumps({"type": "stock.changed", "tenant": "dev", "sku": "TS-001", "available": 12,
                    "at": "2026-11-27T10:00:00Z"}),
        "not json at all",
    ]
    records = []
    for i, b in enumerate(wms):
        records.append({
            "messageId": f"00000000-0000-4000-9000-00000000000{i + 1}", "receiptHandle": f"receipt-{i + 1}",
            "body": b, "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795684502500",
                                      "SenderId": "AROAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795684502600"},
            "messageAttributes": {}, "md5OfBody": hashlib.md5(b.encode()).hexdigest(),
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:wms-events",
            "awsRegion": "eu-west-1"})
    with open(EVENTS / "tracking-export-sqs-batch.json", "w") as f:
        json.dump({"Records": records}, f, indent=2)
    # An SQS batch of one for inventory-push (FIFO, batch size 1): a Live push whose window
    # has passed, for a connection a fresh local stack does not have (handled, nothing pushed).
    push = json.dumps({"type": "push.live", "v": 1, "tenant": "dev", "connection": "c_demo0000000000000001",
                       "window_end": "2026-11-27T10:00:02Z"})
    with open(EVENTS / "inventory-push-sqs-batch.json", "w") as f:
        json.dump({"Records": [{
            "messageId": "00000000-0000-4000-a000-000000000001", "receiptHandle": "receipt-1",
            "body": push, "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795684502500",
                                         "SenderId": "AROAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795684502600",
                                         "MessageGroupId": "c_demo0000000000000001",
                                         "MessageDeduplicationId": "live-c_demo0000000000000001-1"},
            "messageAttributes": {}, "md5OfBody": hashlib.md5(push.encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:inventory-push.fifo",
            "awsRegion": "eu-west-1"}]}, f, indent=2)
    # An SQS batch for the jobs worker (issue 22): one connection's reconciliation poll, for a
    # connection a fresh local stack does not have (its due entry is dropped, nothing polled).
    job = json.dumps({"v": 1, "entry": {"job": "reconcile", "tenant": "dev",
                                         "connection": "c_demo0000000000000001", "at_ms": 1795684500000},
                      "part": 0})
    with open(EVENTS / "jobs-sqs-batch.json", "w") as f:
        json.dump({"Records": [{
            "messageId": "00000000-0000-4000-b000-000000000001", "receiptHandle": "receipt-1",
            "body": job, "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795684502500",
                                        "SenderId": "AROAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795684502600"},
            "messageAttributes": {}, "md5OfBody": hashlib.md5(job.encode()).hexdigest(),
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:jobs",
            "awsRegion": "eu-west-1"}]}, f, indent=2)
    print(f"order body: {len(body)} bytes")


if __name__ == "__main__":
    main()
