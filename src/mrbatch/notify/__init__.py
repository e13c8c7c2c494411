"""The `Notifier` port's implementations and the local mail server.

`SmtpNotifier` (`notify.smtp`) sends at most once per idempotency key through a SQLite
ledger, to the local `MailSink` (`notify.sink`) or to SES's SMTP interface;
`MemoryNotifier` (`notify.memory`) serves tests. Contract suite:
`tests/contract/test_contract_notifier.py`.
"""
