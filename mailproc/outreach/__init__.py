"""Outreach (instruction 2.2-2.7): the contact base, groups by segment and level, and the
plan-schedule of mailings sent exactly once per recipient per issue."""
