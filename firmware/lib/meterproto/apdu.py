# meterproto.apdu: one import for every xDLMS APDU codec (IEC 62056-5-3), core.
# The association APDUs live in apdu_acse, the data services in apdu_get; this module only
# gathers their names so callers write `from meterproto import apdu; apdu.build_aarq(...)`.
from meterproto.apdu_acse import *  # noqa: F401,F403
from meterproto.apdu_get import *  # noqa: F401,F403
