# meterproto.dlms: DLMS/COSEM over HDLC (IEC 62056-5-3, 62056-6-2): A-XDR, APDUs, COSEM,
# security suite 0, the client. Import the modules one by one (RAM).
