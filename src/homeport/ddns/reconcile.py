"""Make the records of one (name, type) right, touching only records the controller owns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from homeport.ddns.cloudflare import (
    EXISTS_CODES,
    ApiError,
    CloudflareClient,
    DnsRecord,
    UncertainWrite,
)

_CREATE_ROUNDS = 3


@dataclass(frozen=True)
class Desired:
    """What every record of a (name, type) should say.

    Attributes:
        name: Fully-qualified name.
        type: A or AAAA.
        content: The address.
        ttl: TTL (ignored for proxied records, which Cloudflare keeps automatic).
        proxied: Proxying.
        owner: The owner comment.
    """

    name: str
    type: str
    content: str
    ttl: int
    proxied: bool
    owner: str

    def matches(self, r: DnsRecord) -> bool:
        """Whether an owned record already says everything it should."""
        ttl_ok = self.proxied or r.ttl == self.ttl
        return r.content == self.content and r.proxied == self.proxied and ttl_ok


@dataclass(frozen=True)
class RecordState:
    """One record in the status report.

    Attributes:
        name: Record name.
        type: Record type.
        content: Its content after the cycle.
        state: ok, created, updated, deleted, foreign, would-create, would-update,
            would-delete or failed.
    """

    name: str
    type: str
    content: str
    state: str


@dataclass
class Outcome:
    """The result of reconciling one (name, type).

    Attributes:
        ok: DNS answers exactly the desired address for this name and type.
        records: What was found and done.
        error: Why it is not right (None when ok).
    """

    ok: bool
    records: list[RecordState] = field(default_factory=list)
    error: str | None = None


def reconcile(
    client: CloudflareClient,
    zone_id: str,
    want: Desired,
    *,
    dry_run: bool = False,
    on_change: Callable[[str], None] | None = None,
) -> Outcome:
    """List one (name, type) and bring the owned records in line.

    Records already right are kept; an out-of-date owned record is updated in place; when
    none exists one is created with the owner comment; owned duplicates are deleted after
    the update. Records without the owner comment are only reported.

    Args:
        client: The API client.
        zone_id: Zone ID.
        want: The desired state.
        dry_run: Plan only; write nothing.
        on_change: Called with create/update/delete after each successful write.

    Returns:
        The outcome. API errors other than "already exists" and uncertain creates propagate.
    """
    note = on_change or (lambda _a: None)
    records = client.list_records(zone_id, want.name, want.type)
    owned = [r for r in records if r.comment == want.owner]
    foreign = [r for r in records if r.comment != want.owner]
    states = [RecordState(r.name, r.type, r.content, "foreign") for r in foreign]
    wrong_foreign = [r for r in foreign if r.content != want.content]
    problems = [
        f"{want.type} {want.name} has a record without the owner comment pointing at "
        f"{r.content} (id {r.id}); homeport never touches it: delete it or add the comment "
        f'"{want.owner}"'
        for r in wrong_foreign
    ]

    if not owned:
        if any(r.content == want.content for r in foreign):
            # DNS already answers our address through a record we do not own: nothing to add.
            pass
        elif dry_run:
            states.append(RecordState(want.name, want.type, want.content, "would-create"))
        else:
            created = _create(client, zone_id, want, note)
            states.append(RecordState(want.name, want.type, want.content, created))
    else:
        keeper = next((r for r in owned if want.matches(r)), owned[0])
        dups = [r for r in owned if r is not keeper]
        if want.matches(keeper):
            states.append(RecordState(keeper.name, keeper.type, keeper.content, "ok"))
        elif dry_run:
            states.append(RecordState(keeper.name, keeper.type, want.content, "would-update"))
        else:
            client.update(
                zone_id, keeper.id, content=want.content, ttl=want.ttl, proxied=want.proxied
            )
            note("update")
            states.append(RecordState(keeper.name, keeper.type, want.content, "updated"))
        for d in dups:
            if dry_run:
                states.append(RecordState(d.name, d.type, d.content, "would-delete"))
            else:
                client.delete(zone_id, d.id)
                note("delete")
                states.append(RecordState(d.name, d.type, d.content, "deleted"))
    ok = not problems
    return Outcome(ok, states, "; ".join(problems) if problems else None)


def _create(
    client: CloudflareClient, zone_id: str, want: Desired, note: Callable[[str], None]
) -> str:
    """Create the owned record; after an unclear answer, list again before retrying."""
    last: ApiError | None = None
    for _ in range(_CREATE_ROUNDS):
        try:
            client.create(
                zone_id,
                name=want.name,
                rtype=want.type,
                content=want.content,
                ttl=want.ttl,
                proxied=want.proxied,
                comment=want.owner,
            )
            note("create")
            return "created"
        except UncertainWrite as exc:
            last = exc
        except ApiError as exc:
            if not EXISTS_CODES.intersection(exc.codes):
                raise
            last = exc
        # Cloudflare may have applied it (or someone else just did): look before trying again.
        again = client.list_records(zone_id, want.name, want.type)
        mine = [r for r in again if r.comment == want.owner and want.matches(r)]
        if mine:
            note("create")
            return "created"
        if any(r.content == want.content for r in again):
            return "foreign"
    assert last is not None
    raise last
