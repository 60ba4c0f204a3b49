"""What the audit log may say: every action and outcome as an enum, stored as its value.

Free strings drifted (the staff panel's filter missed actions the services wrote); writers pass
these members, readers list them (the filter offers every :class:`AuditAction`). Rows written
before the enums hold the same values, so no migration rewrites them; ``lockers db check``
reports any value outside these sets.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    REGISTER = "register"
    RETRIEVE = "retrieve"
    UNLOCK = "unlock"  # the door outcome of a register or retrieve
    LIVENESS = "liveness"
    EXPIRE = "expire"
    STARTUP_CHECK = "startup_check"
    HOUSEKEEPING = "housekeeping"
    ADD_STAFF = "add_staff"
    STAFF_LOGIN = "staff_login"
    STAFF_LOGOUT = "staff_logout"
    FORCE_OPEN = "force_open"
    RESET = "reset"
    OUT_OF_SERVICE = "out_of_service"
    # site commands (lockers.store.models.CommandResult's values beyond the door outcomes)
    CLAIMED = "claimed"
    NO_ANSWER = "no_answer"
    REFUSED = "refused"
    DONE = "done"
    EXPIRED = "expired"
    INTERRUPTED = "interrupted"
    BACK_IN_SERVICE = "back_in_service"
    AUDIT_EXPORT = "audit_export"
    SCHEMA_MIGRATION = "schema_migration"  # e.g. 0002 gave the existing lockers to a kiosk
    # one site, several kiosks (lockers.store.site, lockers.store.site_commands)
    KIOSK_STARTED = "kiosk_started"
    KIOSK_STOPPED = "kiosk_stopped"
    COMMAND_SENT = "command_sent"
    COMMAND_CLAIMED = "command_claimed"
    COMMAND_RUN = "command_run"  # finished by the owning kiosk; the outcome is its result
    COMMAND_EXPIRED = "command_expired"
    COMMAND_INTERRUPTED = "command_interrupted"
    # the site console (lockers.console): accounts, passwords, API tokens
    CONSOLE_PASSWORD = "console_password"
    CONSOLE_ACCOUNT = "console_account"
    API_TOKEN = "api_token"
    ALERT_ACK = "alert_ack"
    # a door alert from a kiosk's lock board (lockers.hardware DoorEventKind: the outcome is
    # forced_open or jammed); the console raises an alert for each
    DOOR_ALERT = "door_alert"
    # a customer pressed "call staff" at a kiosk (accessibility); the console raises an alert
    ASSISTANCE_REQUESTED = "assistance_requested"


class AuditOutcome(StrEnum):
    OK = "ok"
    FOUND = "found"
    REPAIRED = "repaired"
    REQUESTED = "requested"
    RESERVED = "reserved"
    DUPLICATE = "duplicate"
    NO_FREE_LOCKER = "no_free_locker"
    MATCHED = "matched"
    NO_MATCH = "no_match"
    RATE_LIMITED = "rate_limited"
    PRESENTATION_ATTACK = "presentation_attack"
    CHALLENGE_FAILED = "challenge_failed"  # an unsure capture's head move was not done
    PASSIVE_OFF = "passive_off"
    TEMPLATES_DELETED = "templates_deleted"
    UNKNOWN_STAFF = "unknown_staff"
    WRONG_PIN = "wrong_pin"
    LOCKED_OUT = "locked_out"
    # door outcomes (UnlockOutcome's values) and what the services made of them
    OPENED = "opened"
    JAMMED = "jammed"
    FORCED_OPEN = "forced_open"  # a door opened with no unlock command (DOOR_ALERT)
    UNCONFIRMED = "unconfirmed"
    NOT_SENT = "not_sent"
    OPENED_RENTAL_ENDED = "opened_rental_ended"
    ROLLED_BACK = "rolled_back"
    JAMMED_ROLLED_BACK = "jammed_rolled_back"
    # a locker's status after back_in_service (lockers.store.models.LockerStatus's values)
    AVAILABLE = "available"
    OCCUPIED = "occupied"
    OUT_OF_SERVICE = "out_of_service"
    # site commands (lockers.store.models.CommandResult's values beyond the door outcomes)
    CLAIMED = "claimed"
    NO_ANSWER = "no_answer"
    REFUSED = "refused"
    DONE = "done"
    EXPIRED = "expired"
    INTERRUPTED = "interrupted"
    # the site console's logins and account changes
    WRONG_PASSWORD = "wrong_password"
    CREATED = "created"
    REVOKED = "revoked"
    CHANGED = "changed"
    DISABLED = "disabled"
    ENABLED = "enabled"
    # one site, several kiosks: a face whose rental is in another kiosk's bank
    ACTIVE_ELSEWHERE = "active_elsewhere"  # registering again: told where the rental is
    AT_OTHER_KIOSK = "at_other_kiosk"  # retrieving at the wrong kiosk: nothing opened
