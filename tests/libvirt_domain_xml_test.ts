import assert from "node:assert/strict";
import { parseDomainXml, qmpSocketsOf, splitQemuOptions } from "../lib/libvirt/domain_xml.ts";
import { parseXml, XmlSyntaxError } from "../lib/libvirt/xml.ts";
import {
  DomainNotFoundError,
  findDomains,
  LibvirtAccessError,
  NoYankMonitorError,
} from "../lib/libvirt/domains.ts";

// The status XML libvirt 9.0.0 wrote for a running TCG domain with an NBD disk, a TCP serial
// and a yank monitor in <qemu:commandline> (paths rewritten to /run/yank and /run/nbd).
const STATUS_XML = Deno.readTextFileSync(new URL("./fixtures/libvirt_status.xml", import.meta.url));

function domainXml(name: string, commandline: string, ns = "qemu"): string {
  return `<domain type='qemu' xmlns:${ns}='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${name}</name>
  <devices>
    <disk type='network' device='disk'><target dev='vda' bus='virtio'/><alias name='virtio-disk0'/></disk>
  </devices>
  ${commandline}
</domain>`;
}

Deno.test("parseDomainXml reads what yank needs from libvirt's XML", async (t) => {
  await t.step("the status XML of a running domain: yank monitor, libvirt's monitor, disks", () => {
    assert.deepEqual(parseDomainXml(STATUS_XML), {
      name: "yanktest1",
      yankMonitors: ["/run/yank/yanktest1.qmp"],
      libvirtMonitor: "/var/lib/libvirt/qemu/domain-1-yanktest1/monitor.sock",
      disks: [{ target: "vda", alias: "virtio-disk0" }],
    });
  });

  await t.step("any prefix bound to the qemu namespace; entities decoded", () => {
    const xml = domainXml(
      "vm&amp;1",
      `<q:commandline><q:arg value='-qmp'/><q:arg value='unix:/run/yank/a&amp;b.qmp,server=on,wait=off'/></q:commandline>`,
      "q",
    );
    const domain = parseDomainXml(xml);
    assert.equal(domain.name, "vm&1");
    assert.deepEqual(domain.yankMonitors, ["/run/yank/a&b.qmp"]);
  });

  await t.step("a commandline element outside the qemu namespace is not read", () => {
    const xml = domainXml(
      "vm1",
      `<other:commandline xmlns:other='urn:x'><other:arg value='-qmp'/><other:arg value='unix:/x,server=on'/></other:commandline>`,
    );
    assert.deepEqual(parseDomainXml(xml).yankMonitors, []);
  });

  await t.step("malformed XML is an error, not a guess", () => {
    assert.throws(() => parseXml("<domain><name>x</domain>"), XmlSyntaxError);
    assert.throws(() => parseXml("<domain>"), XmlSyntaxError);
    assert.throws(() => parseDomainXml("<network/>"), /no <domain> element/);
  });
});

Deno.test("qmpSocketsOf finds QMP monitors on a QEMU command line", async (t) => {
  await t.step("-chardev socket server with -mon mode=control", () => {
    assert.deepEqual(
      qmpSocketsOf([
        "-chardev",
        "socket,id=yankmon,path=/run/yank/vm1.qmp,server=on,wait=off",
        "-mon",
        "chardev=yankmon,mode=control",
      ]),
      ["/run/yank/vm1.qmp"],
    );
  });
  await t.step("-qmp unix:, old and new boolean syntax", () => {
    assert.deepEqual(qmpSocketsOf(["-qmp", "unix:/a.qmp,server,nowait"]), ["/a.qmp"]);
    assert.deepEqual(qmpSocketsOf(["--qmp", "unix:/b.qmp,server=on,wait=off"]), ["/b.qmp"]);
  });
  await t.step("HMP monitors, client sockets and TCP QMP are left out", () => {
    assert.deepEqual(
      qmpSocketsOf([
        "-chardev",
        "socket,id=h,path=/h.sock,server=on",
        "-mon",
        "chardev=h",
        "-chardev",
        "socket,id=c,path=/c.sock",
        "-mon",
        "chardev=c,mode=control",
        "-chardev",
        "socket,id=o,path=/o.sock,server=off",
        "-mon",
        "chardev=o,mode=control",
        "-qmp",
        "tcp:127.0.0.1:4444,server=on",
      ]),
      [],
    );
  });
  await t.step("a doubled comma is a literal comma in a path", () => {
    assert.deepEqual(splitQemuOptions("socket,path=/a,,b,server"), [
      ["socket", undefined],
      ["path", "/a,b"],
      ["server", undefined],
    ]);
  });
});

Deno.test("findDomains reads libvirt's status XML directory", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "yank-libvirt-" });
  try {
    await Deno.writeTextFile(`${dir}/web1.xml`, STATUS_XML);
    await Deno.writeTextFile(`${dir}/web2.xml`, domainXml("web2", ""));
    await Deno.writeTextFile(`${dir}/web1.pid`, "1");

    await t.step("an exact name finds the yank monitor", async () => {
      const { found, failures } = await findDomains(["web1"], dir);
      assert.deepEqual(failures, []);
      assert.deepEqual(found.map((f) => f.socket), ["/run/yank/yanktest1.qmp"]);
    });
    await t.step("a glob finds each domain once; one without a monitor is a failure", async () => {
      const { found, failures } = await findDomains(["web*", "web1"], dir);
      assert.equal(found.length, 1);
      assert.equal(failures.length, 1);
      assert.ok(failures[0] instanceof NoYankMonitorError);
      assert.match(failures[0]!.message, /"web2" has no QMP monitor for yank.*qemu:commandline/);
    });
    await t.step("a missing domain, a glob matching none, a path-like name", async () => {
      const { found, failures } = await findDomains(["nope", "db*", "../etc/passwd"], dir);
      assert.deepEqual(found, []);
      assert.equal(failures.length, 3);
      for (const failure of failures) assert.ok(failure instanceof DomainNotFoundError);
    });
    await t.step("an unreadable directory says so", async () => {
      const { failures } = await findDomains(["*"], `${dir}/web1.xml`);
      assert.ok(failures[0] instanceof LibvirtAccessError, String(failures[0]));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
