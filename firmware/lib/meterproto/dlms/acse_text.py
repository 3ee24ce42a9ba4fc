# meterproto.dlms.acse_text: association in plain words (IEC 62056-5-3 clause 9 AARE result
# and diagnostics, clause 8.4 conformance block, clause 9.5 initiate errors) (core). Loaded
# only to explain a refusal or to name the services a meter offers: a client keeps its RAM.

MECHANISMS = {0: "lowest (none)", 1: "low (password)", 2: "high (manufacturer)", 3: "high MD5",
              4: "high SHA-1", 5: "high GMAC", 6: "high SHA-256", 7: "high ECDSA"}

ASSOCIATION_RESULTS = {0: "accepted", 1: "rejected (permanent)", 2: "rejected (transient)"}

# acse-service-user diagnostics, with the advice a user needs.
USER_DIAGNOSTICS = {
    0: "no problem", 1: "no reason given",
    2: "application context not supported (try LN instead of SN, or without ciphering)",
    11: "authentication mechanism not recognised",
    12: "authentication mechanism required (this client needs a password or key)",
    13: "authentication failure (wrong password or key)",
    14: "authentication required (this client needs a password or key)",
}
PROVIDER_DIAGNOSTICS = {0: "no problem", 1: "no reason given", 2: "no common ACSE version"}


# Conformance block bits, numbered from the most significant bit of the 24 (clause 8.4).
CONFORMANCE_BITS = {
    1: "general-protection", 2: "general-block-transfer", 3: "read", 4: "write",
    5: "unconfirmed-write", 8: "attribute0-supported-with-set", 9: "priority-mgmt-supported",
    10: "attribute0-supported-with-get", 11: "block-transfer-with-get-or-read",
    12: "block-transfer-with-set-or-write", 13: "block-transfer-with-action",
    14: "multiple-references", 15: "information-report", 16: "data-notification",
    17: "access", 18: "parameterized-access", 19: "get", 20: "set",
    21: "selective-access", 22: "event-notification", 23: "action",
}


# xDLMS initiate errors (ServiceError "initiate" inside a confirmedServiceError).
INITIATE_ERRORS = {0: "other", 1: "DLMS version too low", 2: "incompatible conformance",
                   3: "PDU size too short", 4: "refused by the VDE handler"}


def conformance_names(conformance):
    """24-bit conformance block -> list of the names of the bits that are set."""
    out = []
    for bit in range(24):
        if conformance & (1 << (23 - bit)):
            out.append(CONFORMANCE_BITS.get(bit, "reserved-%d" % bit))
    return out
