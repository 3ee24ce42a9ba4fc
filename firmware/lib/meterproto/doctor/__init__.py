# meterproto.doctor.ladder: the optical-head doctor (a ladder of line tests, docs/DOCTOR.md).
