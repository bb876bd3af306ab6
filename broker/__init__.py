"""The broker: the MQTT contract edge and central speak, and the Mosquitto that carries it.

- :mod:`.contract`: topics, message models, JSON Schema and versions (shared by all);
- :mod:`.client`: the one MQTT connection settings model and paho client factory;
- :mod:`.mosquitto`: broker directories, accounts, ACL, running the broker.
"""
