"""The domain: complaints (filing, references, lifecycle), the outbox (notifications and their sender), privacy
(my data, erasure, log purge) and the audit trail. It sits between the handlers and the storage layer: handlers
and pages call it; it never imports a channel or a handler."""
