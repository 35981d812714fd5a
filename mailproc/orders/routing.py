"""Which department an order goes to: by fund code through the departments directory
(``rules/departments.yaml``: КХ, КХ2 storage; КМ, КМП, СБ Сандалы-Бичик; КХ ОНКФ and ОНКФ the
national and local-history funds), articles without a fund code to periodicals. Pure."""

from __future__ import annotations

from mailproc.sorting.directory import Department, Directory


def route(directory: Directory, *, fund_code: str, kind: str,
          articles_department: str) -> Department | None:
    if fund_code:
        dept = directory.by_fund(fund_code)
        if dept is None and fund_code == "КХ ОНКФ":
            dept = directory.by_fund("ОНКФ")
        if dept is not None:
            return dept
    if kind == "article":
        return directory.department(articles_department) or directory.by_fund("периодика")
    return None


def sender_department(directory: Directory, address: str) -> tuple[str, bool]:
    """(department key or "", is the ЛОД duty) for a sender address."""
    addr = (address or "").lower()
    dept = directory.by_address(addr)
    return (dept.key if dept else ""), bool(directory.lod) and addr == directory.lod
