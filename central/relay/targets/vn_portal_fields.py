"""Every name the national portal's API uses, in one place: paths, fields, stage types.

PROVISIONAL. Vietnam's National Traceability Portal (truyxuatnguongoc.gov.vn) publishes
no API specification; its integration guide (TaiLieuHuongDanTichHopTXNG.pdf) could not
be read. The defaults below come from unofficial client code seen in public repositories
(``/gwdev/tochuc/v5/ToChuc_SanPham``, ``idToChucHoSo``, ``ten``, ``gtinCode``,
``hinhAnh``, ``lenhSanXuat``, ``cheBien`` ...) and, where nothing was seen, from our
reading of Circular 02/2024/TT-BKHCN. Treat every name here as a guess to be checked
against the official guide and sandbox credentials before production.

So that checking them costs no code change, each name can be overridden from central's
config, in the target's ``options``::

    [[relay.targets]]
    name = "portal"
    kind = "vn-portal"
    options = { "field.product_image" = "anhSanPham", "path.products" = "/tochuc/v6/SanPham",
                "stage.warehouse" = "khoTong" }

``field.<name>`` renames a field, ``path.<name>`` moves an endpoint, ``stage.<kind>``
maps a location kind to a portal stage type. An unknown name is refused when the
adapter is built, naming the known ones, so a typo fails the start rather than a delivery.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from linetrace.central.relay.targets.base import TargetError

__all__ = ["PortalFields", "PortalNames", "PortalPaths", "portal_names"]


class PortalPaths(BaseModel):
    """Endpoints, relative to the target's URL (the gateway, e.g. ``.../gwdev``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str = Field(default="/connect/token", description="OAuth2 token endpoint.")
    organisation: str = Field(default="/tochuc/v5/ToChuc_HoSo", description="Organisation.")
    products: str = Field(default="/tochuc/v5/ToChuc_SanPham", description="Products.")
    locations: str = Field(default="/tochuc/v5/ToChuc_DiaDiem", description="Locations.")
    chains: str = Field(default="/tochuc/v5/LenhSanXuat", description="Production orders.")
    stages: str = Field(default="/tochuc/v5/CongDoan", description="Stages of a chain.")
    confirm: str = Field(default="/{id}/confirm", description="Appended to a record's path.")


class PortalFields(BaseModel):
    """Field names of the portal's records, its answers and its errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Common to every record we create: our own key, so a lost answer can be looked up.
    reference: str = "maThamChieu"
    organisation_id: str = "idToChucHoSo"
    # Organisation (element 3, 4).
    org_name: str = "ten"
    org_address: str = "diaChi"
    org_gln: str = "maGLN"
    org_tax_code: str = "maSoThue"
    # Product (elements 1, 2, 8, 10).
    product_name: str = "ten"
    product_gtin: str = "gtinCode"
    product_image: str = "hinhAnh"
    product_brand: str = "thuongHieu"
    product_model: str = "maKyHieu"
    product_standards: str = "tieuChuanApDung"
    product_unit: str = "donViTinh"
    product_description: str = "moTa"
    product_producer_name: str = "tenNhaSanXuat"
    product_producer_address: str = "diaChiNhaSanXuat"
    # Location (element 5's location trace code).
    location_name: str = "ten"
    location_address: str = "diaChi"
    location_gln: str = "maGLN"
    location_kind: str = "loaiDiaDiem"
    # Production order = our production batch, which opens a trace chain (elements 6, 7, 9).
    chain_order: str = "maLenhSanXuat"
    chain_product_id: str = "idSanPham"
    chain_lot: str = "soLo"
    chain_trace_code: str = "maTruyXuat"
    chain_production_date: str = "ngaySanXuat"
    chain_expiry: str = "hanSuDung"
    chain_quantity: str = "soLuong"
    # Stage of a chain (element 5): product trace code, location trace code, event time.
    stage_chain_id: str = "idChuoiSanXuat"
    stage_type: str = "loaiCongDoan"
    stage_product_code: str = "maTruyVetSanPham"
    stage_location_code: str = "maTruyVetDiaDiem"
    stage_location_id: str = "idDiaDiem"
    stage_time: str = "thoiGian"
    stage_serial_count: str = "soLuongSeri"
    # Answers: {"data": {...}} with the record's "id" and its confirmation state.
    answer_data: str = "data"
    answer_id: str = "id"
    answer_state: str = "trangThai"
    # Errors: {"code": "ERR_SYS_DEV", "message": ..., "debugMessage": ".NET exception"}.
    error_code: str = "code"
    error_message: str = "message"
    error_debug: str = "debugMessage"
    # OAuth2 token answer (RFC 6749 names; the portal's gateway is assumed standard).
    token_access: str = "access_token"  # noqa: S105 - a field name, not a secret
    token_expires_in: str = "expires_in"  # noqa: S105 - a field name, not a secret


# Our location kinds (derive.master_data.LOCATION_KINDS) -> the portal's stage types.
_STAGES: dict[str, str] = {
    "factory": "cheBien",  # processing / packing
    "warehouse": "khoTong",
    "transport": "vanChuyen",
    "agent": "daiLy",
    "store": "cuaHang",
    "farm": "vungTrong",
}


class PortalNames(BaseModel):
    """Paths, fields and stage types in force for one target."""

    model_config = ConfigDict(frozen=True)

    paths: PortalPaths = Field(default_factory=PortalPaths)
    fields: PortalFields = Field(default_factory=PortalFields)
    stages: dict[str, str] = Field(default_factory=lambda: dict(_STAGES))

    def stage_type(self, location_kind: str | None) -> str:
        """The portal's stage type for a location kind (unknown or none: processing)."""
        return self.stages.get(location_kind or "factory", self.stages["factory"])


def portal_names(options: Mapping[str, object]) -> PortalNames:
    """The defaults with the target's ``path.*``, ``field.*`` and ``stage.*`` options applied.

    Other options are the adapter's own (``token_url`` ...) and are left alone here.
    Raises TargetError naming an unknown name or a value that is not text.
    """
    overrides: dict[str, dict[str, str]] = {"path": {}, "field": {}, "stage": {}}
    for key, value in options.items():
        group, dot, name = key.partition(".")
        if not dot or group not in overrides:
            continue
        if not isinstance(value, str) or not value:
            raise TargetError(f"relay target option {key!r} must be a non-empty string")
        overrides[group][name] = value
    for group, model in (("path", PortalPaths), ("field", PortalFields)):
        unknown = sorted(set(overrides[group]) - set(model.model_fields))
        if unknown:
            known = ", ".join(sorted(model.model_fields))
            raise TargetError(f"unknown vn-portal {group} names {unknown}; known: {known}")
    unknown_kinds = sorted(set(overrides["stage"]) - set(_STAGES))
    if unknown_kinds:
        raise TargetError(
            f"unknown location kinds {unknown_kinds} in stage.*; known: {', '.join(_STAGES)}"
        )
    return PortalNames(
        paths=PortalPaths(**overrides["path"]),
        fields=PortalFields(**overrides["field"]),
        stages={**_STAGES, **overrides["stage"]},
    )
