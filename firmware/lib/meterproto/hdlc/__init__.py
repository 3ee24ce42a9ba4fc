# meterproto.hdlc: the HDLC link layer of IEC 62056-46 (frames and the client link).
