# meterproto.iec: IEC 62056-21 (mode A-E sign-on, readout, programming mode, push).
