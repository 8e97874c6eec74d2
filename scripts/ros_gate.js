// The ROS gate's node half: template.yml's resources through the ROS CDK's own property
// validators (the @alicloud/ros-cdk-* packages, from the ros-cdk-* wheels' jsii tarballs).
//   node scripts/ros_gate.js NODE_MODULES < resources.json   (scripts/ros_gate.py runs it)
// In:  {"Name": {"Type": "ALIYUN::X::Y", "Properties": {...}}, ...}  (Refs with defaults resolved)
// Out: {"errors": ["Name: ...", ...], "attributes": {"ALIYUN::X::Y": ["Arn", ...]}}
"use strict";
const path = require("path");
const fs = require("fs");

const nodeModules = process.argv[2];
const PACKAGES = ["fc3", "ots", "ram", "mns", "sls", "cms", "ros"];

// Every Ros* L1 class by the ROS type it renders (its ROS_RESOURCE_TYPE_NAME).
const classes = {};
for (const name of PACKAGES) {
  const mod = require(path.join(nodeModules, "@alicloud", `ros-cdk-${name}`));
  for (const [exported, cls] of Object.entries(mod)) {
    if (exported.startsWith("Ros") && typeof cls === "function" && typeof cls.ROS_RESOURCE_TYPE_NAME === "string") {
      classes[cls.ROS_RESOURCE_TYPE_NAME] = cls;
    }
  }
}

// ROS intrinsics ({"Ref": ...}, {"Fn::...": ...}): the validators skip them, as ROS does at
// template validation; their values are only known at deploy time.
function isIntrinsic(x) {
  if (x === null || typeof x !== "object" || Array.isArray(x)) return false;
  const keys = Object.keys(x);
  return keys.length === 1 && (keys[0] === "Ref" || keys[0].startsWith("Fn::"));
}

// The CDK reads props in camelCase (messageRetentionPeriod) and renders them PascalCase
// (MessageRetentionPeriod): a proxy answers a camelCase read from the template's key of any
// case. A key the CDK never reads is missing from its rendering: that is an unknown property.
const proxies = new WeakSet();
function wrap(value) {
  if (value === null || typeof value !== "object" || isIntrinsic(value)) return value;
  if (Array.isArray(value)) return value.map(wrap);
  const proxy = new Proxy(value, {
    get(target, prop) {
      if (typeof prop !== "string") return target[prop];
      if (Object.prototype.hasOwnProperty.call(target, prop)) return wrap(target[prop]);
      const key = Object.keys(target).find((k) => k.toLowerCase() === prop.toLowerCase());
      return key === undefined ? undefined : wrap(target[key]);
    },
  });
  proxies.add(proxy);
  return proxy;
}

function unknownKeys(input, rendered, where, errors) {
  if (input === null || typeof input !== "object" || isIntrinsic(input)) return;
  if (Array.isArray(input)) {
    if (Array.isArray(rendered)) input.forEach((x, i) => unknownKeys(x, rendered[i], `${where}[${i}]`, errors));
    return;
  }
  // A free-form map (TriggerConfig's values, EnvironmentVariables) comes back as it went in.
  if (rendered === null || typeof rendered !== "object" || proxies.has(rendered)) return;
  for (const key of Object.keys(input)) {
    if (rendered[key] === undefined) {
      errors.push(`${where}.${key}: not a property of this type (misspelt?)`);
    } else {
      unknownKeys(input[key], rendered[key], `${where}.${key}`, errors);
    }
  }
}

const resources = JSON.parse(fs.readFileSync(0, "utf8"));
const errors = [];
const attributes = {};
for (const [name, resource] of Object.entries(resources)) {
  const cls = classes[resource.Type];
  if (cls === undefined) {
    errors.push(`${name}: unknown resource type ${resource.Type} (not in ros-cdk-${PACKAGES.join("/")} 1.15.0)`);
    continue;
  }
  attributes[resource.Type] = [...cls.toString().matchAll(/getAtt\('([^']+)'\)/g)].map((m) => m[1]);
  const properties = resource.Properties || {};
  const renderer = Object.create(cls.prototype);
  renderer.enableResourcePropertyConstraint = true; // run the validators, as ROS CDK synth does
  try {
    const rendered = renderer.renderProperties(wrap(properties));
    unknownKeys(properties, rendered, `${name}.Properties`, errors);
  } catch (err) {
    const message = String(err && err.message ? err.message : err).replace(/\s+/g, " ");
    errors.push(`${name} (${resource.Type}): ${message}`);
  }
}
process.stdout.write(JSON.stringify({ errors, attributes }));
