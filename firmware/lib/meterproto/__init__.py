# meterproto: the sans-I/O protocol core shared by the probe firmware and the host.
# IEC 62056-21, HDLC (IEC 62056-46) and DLMS/COSEM; no I/O, no clock, no sleep.
# One package per layer (iec, hdlc, dlms, link, doctor, session) over the shared basics here;
# modules are imported one by one (`from meterproto.iec.client import IecClient`): RAM.
__version__ = "0.1.0"
