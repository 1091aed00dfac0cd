"""Ansible's CloudStack modules (the ngine_io.cloudstack collection the `ansible` package ships)
against the native door: one playbook on a local connection, configured by CLOUDSTACK_* variables
as users do, makes a key pair, a security group, an instance in both and a data volume, attaches
and detaches the volume, and removes it; every task's result is asserted in the playbook, and a
second run of the same tasks changes nothing."""

from __future__ import annotations

import json
import pathlib

import pytest

from harness import run_client, tool

pytestmark = pytest.mark.timeout(300)

PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGATO2/H34GxDoie05eKteDb8N4yScKEpRNYdvLYsQK/ "
              "ansible@cirrus")

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: key pair
      ngine_io.cloudstack.cs_sshkeypair:
        name: ans-key
        public_key: "{public_key}"
      register: key
    - name: security group
      ngine_io.cloudstack.cs_securitygroup:
        name: ans-sg
        description: made by ansible
      register: group
    - name: instance
      ngine_io.cloudstack.cs_instance:
        name: ans-vm
        zone: "{zone}"
        template: "{template}"
        service_offering: t3.micro
        ssh_key: ans-key
        security_groups: [ans-sg]
      register: vm
    - name: volume
      ngine_io.cloudstack.cs_volume:
        name: ans-data
        zone: "{zone}"
        disk_offering: Small
      register: volume
    - name: attached
      ngine_io.cloudstack.cs_volume:
        name: ans-data
        zone: "{zone}"
        vm: ans-vm
        state: attached
      register: attached
    - name: results
      ansible.builtin.assert:
        that:
          - key.changed == {first} and key.fingerprint | length > 0
          - group.changed == {first} and group.name == "ans-sg"
          - vm.changed == {first} and vm.state == "Running" and vm.ssh_keys == "ans-key"
          - vm.security_groups == ["ans-sg"]
          - volume.changed == {first} and volume.size == 5368709120
          - attached.changed == {first} and attached.vm == "ans-vm"
          - attached.device_id == 1
"""

CLEANUP = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: detached
      ngine_io.cloudstack.cs_volume:
        name: ans-data
        zone: "{zone}"
        state: detached
      register: detached
    - name: volume gone
      ngine_io.cloudstack.cs_volume:
        name: ans-data
        zone: "{zone}"
        state: absent
      register: gone
    - name: results
      ansible.builtin.assert:
        that:
          - detached.changed and detached.vm is not defined
          - gone.changed
"""


def play(server, home: pathlib.Path, text: str) -> dict:
    """Runs one playbook; its JSON report."""
    playbook = tool("ansible-playbook")
    book = home / "play.yml"
    book.write_text(text)
    env = server.client_env(home)
    env.update(
        CLOUDSTACK_ENDPOINT=server.url + "/client/api",
        CLOUDSTACK_KEY=server.access_key,
        CLOUDSTACK_SECRET=server.secret_key,
        CLOUDSTACK_TIMEOUT="20",
        # The modules run in the interpreter that has `cs`: the one beside ansible-playbook.
        ANSIBLE_PYTHON_INTERPRETER=str(pathlib.Path(playbook).parent / "python"),
        ANSIBLE_STDOUT_CALLBACK="json",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_LOCAL_TEMP=str(home / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
    )
    run = run_client([playbook, "-i", "localhost,", "-c", "local", str(book)], env, home,
                     timeout=240)
    report = json.loads(run.stdout[run.stdout.index("{"):]) if "{" in run.stdout else {}
    failed = [(t["task"]["name"], h.get("msg"), h.get("assertion"))
              for t in report.get("plays", [{}])[0].get("tasks", [])
              for h in t["hosts"].values() if h.get("failed")]
    assert run.returncode == 0, (failed or run.stdout[-3000:], run.stderr[-3000:])
    return report


def test_ansible_instance_key_group_and_volume(server, home):
    from cs import CloudStack

    cs = CloudStack(endpoint=server.url + "/client/api", key=server.access_key,
                    secret=server.secret_key)
    zone = cs.listZones()["zone"][0]["name"]
    template = cs.listTemplates(templatefilter="executable")["template"][0]["name"]
    fields = {"zone": zone, "template": template, "public_key": PUBLIC_KEY}

    play(server, home, PLAYBOOK.format(first="true", **fields))
    [vm] = cs.listVirtualMachines(name="ans-vm")["virtualmachine"]
    assert vm["keypairs"] == "ans-key" and vm["securitygroup"][0]["name"] == "ans-sg"
    [volume] = cs.listVolumes(name="ans-data")["volume"]
    assert volume["virtualmachineid"] == vm["id"]

    # The same tasks again find everything as asked: nothing changes.
    play(server, home, PLAYBOOK.format(first="false", **fields))
    assert cs.listVolumes(name="ans-data")["volume"][0]["id"] == volume["id"]
    assert cs.listVirtualMachines()["count"] == 1

    play(server, home, CLEANUP.format(zone=zone))
    assert cs.listVolumes(type="DATADISK") == {}
