# meterproto.session: reading sessions built from the protocol clients (IEC, mode E, HDLC).
