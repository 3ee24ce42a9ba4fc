# meterproto.apdu: one import for every xDLMS APDU codec (IEC 62056-5-3), core.
# Association APDUs live in apdu_acse, GET in apdu_get (+ _server, apdu_dar), the meter
# side of association in apdu_acse_server, SN READ in apdu_sn; this module only
# gathers their names: `from meterproto import apdu; apdu.build_aarq(...)`.
from meterproto.apdu_acse import *  # noqa: F401,F403
from meterproto.apdu_get import *  # noqa: F401,F403
from meterproto.apdu_sn import *  # noqa: F401,F403
from meterproto.apdu_get_server import *  # noqa: F401,F403
from meterproto.apdu_dar import *  # noqa: F401,F403
from meterproto.apdu_acse_server import *  # noqa: F401,F403
