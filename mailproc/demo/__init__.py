"""The demo: a sample mailbox of realistic Russian traffic and its report."""
