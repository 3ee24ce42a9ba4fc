# meterproto.apdu: one import for every xDLMS APDU codec (IEC 62056-5-3), core.
# Association APDUs live in apdu_acse, GET in apdu_get, SN READ in apdu_sn; this module only
# gathers their names so callers write `from meterproto import apdu; apdu.build_aarq(...)`.
from meterproto.apdu_acse import *  # noqa: F401,F403
from meterproto.apdu_get import *  # noqa: F401,F403
from meterproto.apdu_sn import *  # noqa: F401,F403
