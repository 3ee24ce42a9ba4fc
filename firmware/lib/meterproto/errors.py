# meterproto.errors: one exception tree for the whole core (h11 style; core, both runtimes).
# LocalProtocolError = the caller misused the API; RemoteProtocolError = the meter (or the
# line) broke the protocol. Every error carries a plain-words message for the user.


class ProtocolError(Exception):
    """Base of every error the core raises on purpose."""

    code = "protocol"


class LocalProtocolError(ProtocolError):
    """API misuse by the caller (a bug on our side, or a bad option)."""

    code = "local"


class RemoteProtocolError(ProtocolError):
    """The meter, or the line, did not follow the protocol."""

    code = "remote"


class DecodeError(RemoteProtocolError):
    """Bytes that cannot be decoded (bad structure, absurd length)."""

    code = "decode"


class ChecksumError(DecodeError):
    """A BCC, HCS or FCS did not match: the bytes were damaged on the way."""

    code = "checksum"


class NoAnswer(RemoteProtocolError):
    """The meter did not answer within the time the standard allows."""

    code = "no-answer"


class Refused(RemoteProtocolError):
    """The meter answered but refused (NAK, (ERROR), rejected association, access denied)."""

    code = "refused"
