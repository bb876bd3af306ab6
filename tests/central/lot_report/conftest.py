"""The GS1 EPCIS schema fixtures of the relay's tests, shared with the lot export's."""

from tests.central.relay.epcis.conftest import epcis_folder, epcis_schema, shared_epcis

__all__ = ["epcis_folder", "epcis_schema", "shared_epcis"]
