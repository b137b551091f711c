"""Make the records of one (name, type) right, touching only records the controller owns.

Ownership is an exact match of the record's comment with the owner comment (surrounding
whitespace ignored, case significant: Cloudflare treats comments as case-sensitive text).
Never a prefix match: ``managed-by: homeport`` must not claim the records of a second
controller whose owner comment is ``managed-by: homeport-lab``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from homeport.ddns.cloudflare import (
    EXISTS_CODES,
    NOT_FOUND_CODES,
    ROUTE_CODES,
    ApiError,
    AuthError,
    CloudflareClient,
    DnsRecord,
    UncertainWrite,
    same_address,
)

# List-plan-write rounds per (name, type): a write that raced with another change (record
# deleted meanwhile, "already exists", a create answered too late) lists again and re-plans.
_ROUNDS = 3


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

    def owns(self, r: DnsRecord) -> bool:
        """Whether a record carries the owner comment (exact match)."""
        return r.comment is not None and r.comment.strip() == self.owner.strip()

    def matches(self, r: DnsRecord) -> bool:
        """Whether an owned record already says everything it should.

        Addresses compare as addresses (an expanded IPv6 form equals the compressed one);
        a proxied record's TTL is Cloudflare's business (always automatic), so it never
        causes an update.
        """
        ttl_ok = self.proxied or r.ttl == self.ttl
        return same_address(r.content, self.content) and r.proxied == self.proxied and ttl_ok


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


class _Again(Exception):
    """A write raced with another change: list again and re-plan."""

    def __init__(self, error: ApiError, created: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.created = created


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
    the update. Records without the owner comment are only reported. When a foreign record
    already answers the address, owned records answering another one are deleted instead
    of updated (Cloudflare refuses two identical records: 81058).

    An update of a record deleted meanwhile (81044), an "already exists" answer
    (81057/81058) and a create without a clear answer all lead to a new list and plan,
    at most three rounds.

    Args:
        client: The API client.
        zone_id: Zone ID.
        want: The desired state.
        dry_run: Plan only; write nothing.
        on_change: Called with create/update/delete after each successful write.

    Returns:
        The outcome. Other API errors propagate.
    """
    note = on_change or (lambda _a: None)
    tried_create = False
    last: ApiError | None = None
    for _ in range(_ROUNDS):
        records = client.list_records(zone_id, want.name, want.type)
        try:
            return _round(client, zone_id, want, records, dry_run, note, tried_create)
        except _Again as again:
            last = again.error
            tried_create = tried_create or again.created
    assert last is not None
    raise last


def _raced(exc: ApiError) -> bool:
    """Whether a write error means the records changed under us (so: list again)."""
    if isinstance(exc, AuthError):
        return False
    if EXISTS_CODES.intersection(exc.codes) or NOT_FOUND_CODES.intersection(exc.codes):
        return True
    return exc.status == 404 and not ROUTE_CODES.intersection(exc.codes)


def _round(
    client: CloudflareClient,
    zone_id: str,
    want: Desired,
    records: list[DnsRecord],
    dry_run: bool,
    note: Callable[[str], None],
    tried_create: bool,
) -> Outcome:
    owned = [r for r in records if want.owns(r)]
    foreign = [r for r in records if not want.owns(r)]
    states = [RecordState(r.name, r.type, r.content, "foreign") for r in foreign]
    problems = [
        f"{want.type} {want.name} has a record without the owner comment pointing at "
        f"{r.content} (id {r.id}); homeport never touches it: delete it or add the comment "
        f'"{want.owner}"'
        for r in foreign
        if not same_address(r.content, want.content)
    ]
    foreign_right = any(same_address(r.content, want.content) for r in foreign)
    owned_right = [r for r in owned if same_address(r.content, want.content)]

    keeper: DnsRecord | None = None
    if owned_right:
        keeper = next((r for r in owned_right if want.matches(r)), owned_right[0])
    elif owned and not foreign_right:
        keeper = owned[0]

    if keeper is not None:
        if want.matches(keeper):
            if tried_create:
                # The create whose answer was lost (or "already exists") did take effect.
                note("create")
            state = "created" if tried_create else "ok"
            states.append(RecordState(keeper.name, keeper.type, keeper.content, state))
        elif dry_run:
            states.append(RecordState(keeper.name, keeper.type, want.content, "would-update"))
        else:
            try:
                client.update(
                    zone_id, keeper, content=want.content, ttl=want.ttl, proxied=want.proxied
                )
            except ApiError as exc:
                if _raced(exc):
                    raise _Again(exc) from None
                raise
            note("update")
            states.append(RecordState(keeper.name, keeper.type, want.content, "updated"))
    elif not owned and not foreign_right:
        if dry_run:
            states.append(RecordState(want.name, want.type, want.content, "would-create"))
        else:
            problem = _create(client, zone_id, want)
            note("create")
            states.append(RecordState(want.name, want.type, want.content, "created"))
            if problem:
                problems.append(problem)

    # Owned records other than the keeper: duplicates, or stale ones next to a foreign
    # record that already answers the address. Deleted only after the update above.
    for d in owned:
        if d is keeper:
            continue
        if dry_run:
            states.append(RecordState(d.name, d.type, d.content, "would-delete"))
        else:
            client.delete(zone_id, d.id)
            note("delete")
            states.append(RecordState(d.name, d.type, d.content, "deleted"))
    return Outcome(not problems, states, "; ".join(problems) if problems else None)


def _create(client: CloudflareClient, zone_id: str, want: Desired) -> str | None:
    """Create the owned record; returns a problem when the comment did not stick."""
    try:
        created = client.create(
            zone_id,
            name=want.name,
            rtype=want.type,
            content=want.content,
            ttl=want.ttl,
            proxied=want.proxied,
            comment=want.owner,
        )
    except UncertainWrite as exc:
        # Cloudflare may have applied it: look before trying again.
        raise _Again(exc, created=True) from None
    except ApiError as exc:
        if _raced(exc):
            raise _Again(exc, created=True) from None
        raise
    if created is not None and created.comment is not None and not want.owns(created):
        # e.g. a comment cut to the plan's length limit: the next cycle would not know it.
        return (
            f"{want.type} {want.name}: Cloudflare stored the owner comment as "
            f'"{created.comment}", not "{want.owner}"; use a shorter --owner-comment'
        )
    return None
