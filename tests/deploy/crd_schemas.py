"""Structural JSON Schemas for the custom resources the chart renders.

No registry package ships the CRD schemas of the Prometheus Operator (monitoring.coreos.com/v1)
or KEDA (keda.sh/v1alpha1), so these are written from their CRD references, for the fields the
chart uses: names and types are checked, and unknown fields are refused (additionalProperties
false), as the API server's structural schemas would prune or refuse them.
"""

from __future__ import annotations

from typing import Any

_STR: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}
_LABELS: dict[str, Any] = {"type": "object", "additionalProperties": _STR}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
    }


_METADATA = {
    "type": "object",
    "properties": {"name": _STR, "namespace": _STR, "labels": _LABELS, "annotations": _LABELS},
    "required": ["name"],
}
_SELECTOR = _obj({"matchLabels": _LABELS})
_RELABEL = _obj(
    {
        "action": {"enum": ["replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep"]},
        "sourceLabels": {"type": "array", "items": _STR},
        "targetLabel": _STR,
        "replacement": _STR,
        "regex": _STR,
    }
)
_DURATION = {
    "type": "string",
    "pattern": (
        r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
        r"(([0-9]+)s)?(([0-9]+)ms)?)$"
    ),
}
_ENDPOINT = _obj(
    {
        "port": _STR,
        "path": _STR,
        "interval": _DURATION,
        "relabelings": {"type": "array", "items": _RELABEL},
    }
)


def _resource(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return _obj(
        {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        ("apiVersion", "kind", "metadata", "spec"),
    )


_RULE = {
    "type": "object",
    "properties": {
        "alert": _STR,
        "record": _STR,
        "expr": {"type": ["string", "integer"]},
        "for": _DURATION,
        "keep_firing_for": _DURATION,
        "labels": _LABELS,
        "annotations": _LABELS,
    },
    "required": ["expr"],
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
    "additionalProperties": False,
}
_SECRET_REF = _obj({"parameter": _STR, "name": _STR, "key": _STR}, ("parameter", "name", "key"))
_INT_STRING = {"type": "string", "pattern": r"^[0-9]+$"}

SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _resource(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        _obj(
            {"selector": _SELECTOR, "endpoints": {"type": "array", "items": _ENDPOINT}},
            ("selector", "endpoints"),
        ),
    ),
    ("monitoring.coreos.com/v1", "PodMonitor"): _resource(
        "monitoring.coreos.com/v1",
        "PodMonitor",
        _obj(
            {"selector": _SELECTOR, "podMetricsEndpoints": {"type": "array", "items": _ENDPOINT}},
            ("selector", "podMetricsEndpoints"),
        ),
    ),
    ("monitoring.coreos.com/v1", "PrometheusRule"): _resource(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        _obj(
            {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": _obj(
                        {
                            "name": _STR,
                            "interval": _DURATION,
                            "rules": {"type": "array", "items": _RULE},
                        },
                        ("name", "rules"),
                    ),
                }
            },
            ("groups",),
        ),
    ),
    ("keda.sh/v1alpha1", "ScaledObject"): _resource(
        "keda.sh/v1alpha1",
        "ScaledObject",
        _obj(
            {
                "scaleTargetRef": _obj(
                    {
                        "apiVersion": _STR,
                        "kind": {"enum": ["Deployment", "StatefulSet"]},
                        "name": _STR,
                    },
                    ("name",),
                ),
                "minReplicaCount": _INT,
                "maxReplicaCount": _INT,
                "pollingInterval": _INT,
                "cooldownPeriod": _INT,
                "advanced": _obj(
                    {
                        "horizontalPodAutoscalerConfig": _obj(
                            {"behavior": {"type": "object"}}  # autoscaling/v2 behavior
                        )
                    }
                ),
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": _obj(
                        {
                            "type": {"const": "kafka"},
                            "metadata": _obj(
                                {
                                    "bootstrapServers": _STR,
                                    "consumerGroup": _STR,
                                    "topic": _STR,
                                    "lagThreshold": _INT_STRING,
                                    "offsetResetPolicy": {"enum": ["earliest", "latest"]},
                                    "allowIdleConsumers": {"enum": ["true", "false"]},
                                    "sasl": {
                                        "enum": [
                                            "none",
                                            "plaintext",
                                            "scram_sha256",
                                            "scram_sha512",
                                            "oauthbearer",
                                        ]
                                    },
                                    "tls": {"enum": ["enable", "disable"]},
                                },
                                ("bootstrapServers", "consumerGroup", "lagThreshold"),
                            ),
                            "authenticationRef": _obj({"name": _STR}, ("name",)),
                        },
                        ("type", "metadata"),
                    ),
                },
            },
            ("scaleTargetRef", "triggers"),
        ),
    ),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): _resource(
        "keda.sh/v1alpha1",
        "TriggerAuthentication",
        _obj(
            {"secretTargetRef": {"type": "array", "minItems": 1, "items": _SECRET_REF}},
            ("secretTargetRef",),
        ),
    ),
}
