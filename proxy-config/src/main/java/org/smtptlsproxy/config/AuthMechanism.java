package org.smtptlsproxy.config;

public enum AuthMechanism {
    NONE,
    PLAIN,
    LOGIN,
    XOAUTH2
}
