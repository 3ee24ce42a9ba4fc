# meterproto.dlms: DLMS/COSEM over HDLC (IEC 62056-5-3, 62056-6-2): A-XDR, APDUs, COSEM,
# security suite 0, the client. Import the modules one by one (RAM).

# What the DLMS client imports, leaves first: its starters (meterproto.session.auto, the
# probe's direct HDLC) load them one by one, so no import nests inside another. An import
# runs the module's body on the C stack of the caller, and a read starts deep in the app's
# call chain: nested imports there took the rp2 port past the end of its small C stack.
DLMS_MODULES = ("meterproto.obis", "meterproto.reading", "meterproto.hdlc.frame",
                "meterproto.hdlc.link", "meterproto.dlms.axdr", "meterproto.dlms.initiate",
                "meterproto.dlms.acse", "meterproto.dlms.client_profile",
                "meterproto.dlms.client")
CIPHER_MODULES = ("meterproto.dlms.aes_gcm", "meterproto.dlms.security", "meterproto.dlms.cipher",
                  "meterproto.dlms.hls")
