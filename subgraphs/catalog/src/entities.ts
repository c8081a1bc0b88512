import { defineEntity, p } from '@mikro-orm/core';

export const ArtistSchema = defineEntity({
  name: 'Artist',
  tableName: 'artists',
  properties: {
    id: p.uuid().primary(),
    userId: p.uuid(),
    name: p.string(),
    bio: p.text().nullable(),
    createdAt: p.datetime(),
  },
});
export class Artist extends ArtistSchema.class {}
ArtistSchema.setClass(Artist);

export const AlbumSchema = defineEntity({
  name: 'Album',
  tableName: 'albums',
  properties: {
    id: p.uuid().primary(),
    artistId: p.uuid(),
    title: p.string(),
    releaseDate: p.datetime().nullable(),
    createdAt: p.datetime(),
  },
});
export class Album extends AlbumSchema.class {}
AlbumSchema.setClass(Album);

export const SongSchema = defineEntity({
  name: 'Song',
  tableName: 'songs',
  properties: {
    id: p.uuid().primary(),
    artistId: p.uuid(),
    albumId: p.uuid().nullable(),
    title: p.string(),
    genre: p.string(),
    isrc: p.string().nullable(),
    status: p.string().$type<'DRAFT' | 'PUBLISHED'>(),
    artistName: p.string(),
    durationSeconds: p.integer().nullable(),
    codec: p.string().nullable(),
    bitrateKbps: p.integer().nullable(),
    playCount: p.integer(),
    mediaKey: p.string().nullable(),
    mediaContentType: p.string().nullable(),
    mediaBytes: p.bigint('number').nullable(),
    mediaEtag: p.string().nullable(),
    createdAt: p.datetime(),
    publishedAt: p.datetime().nullable(),
  },
});
export class Song extends SongSchema.class {}
SongSchema.setClass(Song);

export const UploadTicketSchema = defineEntity({
  name: 'UploadTicket',
  tableName: 'upload_tickets',
  properties: {
    id: p.uuid().primary(),
    songId: p.uuid(),
    userId: p.uuid(),
    contentType: p.string(),
    maxBytes: p.bigint('number'),
    createdAt: p.datetime(),
    expiresAt: p.datetime(),
    usedAt: p.datetime().nullable(),
    storedAt: p.datetime().nullable(),
    storedBytes: p.bigint('number').nullable(),
  },
});
export class UploadTicket extends UploadTicketSchema.class {}
UploadTicketSchema.setClass(UploadTicket);

export const PlaylistSchema = defineEntity({
  name: 'Playlist',
  tableName: 'playlists',
  properties: {
    id: p.uuid().primary(),
    ownerId: p.uuid(),
    name: p.string(),
    createdAt: p.datetime(),
  },
});
export class Playlist extends PlaylistSchema.class {}
PlaylistSchema.setClass(Playlist);

export const entities = [ArtistSchema, AlbumSchema, SongSchema, UploadTicketSchema, PlaylistSchema];
