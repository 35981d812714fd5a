"""Registration documents (instruction 2.10-2.12, section 3): cases, completeness, the vault,
the hand-off to ЦКО, card numbers, the consent register and retention.

The documents are personal data under 152-FZ: they are kept only encrypted (``vault``), every
access is an audit row, and log lines name cases by id, never by a reader's name, address,
phone or card number.

Modules: ``documents`` and ``texts`` (pure: what a file or a mail is), ``vault`` (Fernet at
rest), ``models`` (cases, documents, consent register, audit), ``cases`` (finding a case, state
changes, the audit trail), ``intake`` (take documents from a mail), ``handoff`` (to ЦКО and
the card number back), ``retention`` (destruction, withdrawal, export, corrections),
``originals`` (after the hand-off: originals out of the shared mailbox, outbox copies
shredded), ``forms`` (the blank forms on request), ``actions`` (the sorting registry entries).
"""
