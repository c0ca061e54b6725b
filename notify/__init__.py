"""Notifications: alerts reach the people and agencies who must act, once (docs/notifications.md).

Layout, from pure to I/O:

- :mod:`notify.model`: subscriptions, alert transitions and their validation (pure);
- :mod:`notify.decide`: which subscriptions hear about which transition, delivery ids, digest
  slots on working days in Europe/London, retry back-off (pure);
- :mod:`notify.messages`: the email bodies and webhook payloads (pure; no personal data);
- :mod:`notify.ports`: the channel interfaces (:class:`~notify.ports.EmailSender`,
  :class:`~notify.ports.WebhookSender`) and their failures; :mod:`notify.fakes` the fakes;
- :mod:`notify.smtp` and :mod:`notify.webhooks`: the real channels (SMTP, Standard Webhooks);
- :mod:`notify.store`: subscriptions, the delivery log and digests in SQL (own tables);
- :mod:`notify.service`: the notifier's work (record -> deliveries -> channels);
- :mod:`notify.consumer`: the Kafka loop of ``ehcp notify run``.
"""
