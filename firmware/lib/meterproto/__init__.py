# meterproto: the sans-I/O protocol core shared by the probe firmware and the host.
# IEC 62056-21, HDLC (IEC 62056-46) and DLMS/COSEM; no I/O, no clock, no sleep.
# Modules are imported one by one (`from meterproto import iec21_client`) to keep RAM low.
__version__ = "0.1.0"
